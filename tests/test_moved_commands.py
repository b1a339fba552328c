"""The commands that moved keep working one release: they say where to, then run the new one."""

import runpy
import sys

import pytest
from hydra.core.global_hydra import GlobalHydra


@pytest.mark.parametrize(
    ("old", "new", "task_name"),
    [
        ("fakedetect.loop", "loop", "loop"),
        ("fakedetect.studies", "loop.studies", "study_bitrate"),
        ("fomm.fakes", "loop.fakes", "fakes"),
        ("fakedetect.extract", "datamodules.extraction", "extract"),
    ],
)
def test_an_old_command_names_its_new_place_and_runs_it(old, new, task_name, monkeypatch, capsys):
    # As `python -m <old> --cfg job`: the new command composes its config and prints it.
    monkeypatch.setattr(sys, "argv", [old, "--cfg", "job"])
    GlobalHydra.instance().clear()
    runpy.run_module(old, run_name="__main__", alter_sys=True)
    GlobalHydra.instance().clear()
    printed = capsys.readouterr()
    assert f"{old} moved: run `python -m {new}` instead" in printed.err
    assert f"task_name: {task_name}" in printed.out
