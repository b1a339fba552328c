"""ckpt_path resolves to a checkpoint of the run being resumed, and never to another model's."""

import json
import os
import time
from pathlib import Path

import hydra
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from datamodules.training.resume import (
    CHECKPOINT_KEY,
    RUN_FILE,
    CheckpointMismatchError,
    RunIdentity,
    resume,
)

DETECTOR = RunIdentity("fakedetect.module.BinaryDetectorModule", "effnet_att", "ffpp")
FOMM_TINY = RunIdentity("fomm.module.FOMMLitModule", "fomm_tiny", "embedded")


def fake_run(
    root: Path, name: str, identity: RunIdentity, age: float, state=None, record=True
) -> Path:
    """A run folder with run.json and a last.ckpt holding ``identity``, ``age`` seconds old."""
    run = root / "train" / "runs" / name
    last = run / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    content = {"state_dict": state or {}, "pytorch-lightning_version": "2"}
    if record:
        content[CHECKPOINT_KEY] = identity.to_dict()
        (run / RUN_FILE).write_text(json.dumps(identity.to_dict()))
    torch.save(content, last)
    os.utime(last, (time.time() - age, time.time() - age))
    return last


@pytest.fixture
def tiny_fomm(make_cfg):
    """A composed ``ckpt_path=...`` config of the default tiny FOMM, and its module."""

    def compose(ckpt_path: str, extra=()):
        cfg = make_cfg([f"ckpt_path={ckpt_path}", *extra])
        return cfg, hydra.utils.instantiate(cfg.model)

    return compose


def as_sweep_job(cfg, job: int) -> None:
    """Make the composed config look like job ``job`` of a ``-m`` run."""
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.num = job
    HydraConfig().set_config(cfg)


def test_the_identity_is_the_module_model_data_and_sweep_job(tiny_fomm):
    cfg, model = tiny_fomm("null", ["seed=3"])
    identity = RunIdentity.of_run(model)
    # ckpt_path says how to resume, not what is trained: it is not part of the identity.
    assert identity == RunIdentity(
        "fomm.module.FOMMLitModule", "fomm_tiny", "embedded", None, ("seed=3",)
    )
    as_sweep_job(cfg, 2)
    assert RunIdentity.of_run(model).job == 2


def test_last_skips_a_newer_run_of_another_model(tiny_fomm, tmp_path):
    """A detector trained after the FOMM must not be what ``model=fomm... ckpt_path=last`` takes."""
    cfg, model = tiny_fomm("last")
    logs = Path(cfg.paths.log_dir)
    own = fake_run(logs, "older_fomm", FOMM_TINY, age=300)
    fake_run(logs, "newer_detector", DETECTOR, age=10)
    fake_run(logs, "fomm_on_other_data", RunIdentity(FOMM_TINY.module, "fomm_tiny", "vox"), 5)
    fake_run(logs, "before_identities", FOMM_TINY, age=1, record=False)
    ckpt_path, recorder = resume(cfg, model)
    assert ckpt_path == str(own)
    assert recorder.identity == RunIdentity.of_run(model)
    written = json.loads((Path(cfg.paths.output_dir) / RUN_FILE).read_text())
    assert written["model"] == "fomm_tiny" and written["resumed_from"] == str(own)

    own.unlink()
    with pytest.raises(CheckpointMismatchError) as error:
        resume(cfg, model)
    message = str(error.value)
    assert message.startswith("ckpt_path=last found no run of fomm.module.FOMMLitModule")
    assert "newer_detector (fakedetect.module.BinaryDetectorModule (model=effnet_att" in message
    assert "before_identities (no run.json)" in message
    assert "Pass ckpt_path=<run folder> or ckpt_path=<file>" in message


def test_each_sweep_job_resumes_its_own_job(tiny_fomm, tmp_path):
    cfg, model = tiny_fomm("last", ["seed=2"])
    as_sweep_job(cfg, 1)
    logs = Path(cfg.paths.log_dir)
    job = RunIdentity.of_run(model)
    assert job.job == 1 and job.overrides == ("seed=2",)
    mine = fake_run(logs, "sweep_job1", job, age=100)
    fake_run(logs, "sweep_job0", RunIdentity(job.module, job.model, job.data, 0, ("seed=1",)), 5)
    other_sweep = RunIdentity(job.module, job.model, job.data, 1, ("seed=7",))
    fake_run(logs, "other_sweep_job1", other_sweep, age=1)
    fake_run(logs, "single_run", FOMM_TINY, age=2)
    assert resume(cfg, model)[0] == str(mine)


def test_a_named_checkpoint_of_another_model_is_refused_by_name(tiny_fomm, tmp_path):
    detector = fake_run(tmp_path / "elsewhere", "detector", DETECTOR, age=0)
    cfg, model = tiny_fomm(str(detector))
    with pytest.raises(CheckpointMismatchError) as error:
        resume(cfg, model)
    assert str(error.value) == (
        f"{detector} was trained by fakedetect.module.BinaryDetectorModule (model=effnet_att), "
        "this run is fomm.module.FOMMLitModule (model=fomm_tiny); pass ckpt_path=<file> of a "
        "fomm_tiny run, or start fresh (no ckpt_path)."
    )
    # The same module with another model config (fomm vs fomm_tiny) is another model too.
    full = fake_run(tmp_path / "elsewhere", "fomm", RunIdentity(FOMM_TINY.module, "fomm"), 0)
    with pytest.raises(CheckpointMismatchError, match=r"\(model=fomm\), this run is"):
        resume(tiny_fomm(str(full))[0], model)


def test_a_checkpoint_without_identity_must_fit_the_model(tiny_fomm, tmp_path):
    cfg, model = tiny_fomm("null")
    own_state = {name: value for name, value in model.state_dict().items()}
    fits = fake_run(tmp_path / "a", "fits", FOMM_TINY, 0, state=own_state, record=False)
    assert resume(tiny_fomm(str(fits))[0], model)[0] == str(fits)

    foreign = {"net.backbone.conv_stem.weight": torch.zeros(8, 3, 3, 3)}
    other = fake_run(tmp_path / "b", "other", FOMM_TINY, 0, state=foreign, record=False)
    with pytest.raises(CheckpointMismatchError, match="1 entries the model lacks, e.g. net.back"):
        resume(tiny_fomm(str(other))[0], model)

    name, value = next(iter(own_state.items()))
    resized = fake_run(
        tmp_path / "c", "resized", FOMM_TINY, 0, state={name: torch.zeros(*value.shape, 2)},
        record=False,
    )  # fmt: skip
    with pytest.raises(CheckpointMismatchError, match="1 shape differences"):
        resume(tiny_fomm(str(resized))[0], model)

    published = tmp_path / "vox-cpk.pth.tar"
    torch.save({"generator": {}, "kp_detector": {}}, published)
    with pytest.raises(CheckpointMismatchError, match=f"model.init_from={published}"):
        resume(tiny_fomm(str(published))[0], model)


def test_a_run_folder_or_sweep_folder_names_its_last_checkpoint(tiny_fomm, tmp_path):
    cfg, model = tiny_fomm("null")
    last = fake_run(tmp_path, "run", FOMM_TINY, 0)
    run_dir = last.parent.parent
    assert resume(tiny_fomm(str(run_dir))[0], model)[0] == str(last)

    sweep = tmp_path / "multiruns" / "2024-01-01"
    (sweep / "3" / "checkpoints").mkdir(parents=True)
    (sweep / "3" / "checkpoints" / "last.ckpt").write_bytes(last.read_bytes())
    cfg, model = tiny_fomm(str(sweep))
    as_sweep_job(cfg, 3)
    assert resume(cfg, model)[0] == str(sweep / "3" / "checkpoints" / "last.ckpt")
    as_sweep_job(cfg, 4)
    with pytest.raises(FileNotFoundError, match="is a folder without"):
        resume(cfg, model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resume(tiny_fomm(str(tmp_path / "nope.ckpt"))[0], model)
    assert resume(tiny_fomm("null")[0], model)[0] is None
