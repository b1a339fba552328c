import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from pipeline_checkpoints import write_pickled_checkpoint, write_tiny_checkpoint
from studies_media import (  # noqa: F401
    ROOT,
    one_torch_thread,
    write_index,
    write_real_and_fake,
    write_tiny_fomm,
)

from fomm.media import InputError
from loop.studies.__main__ import run_study

STUDIES = ("bitrate", "pose", "occlusion", "robustness")
TINY = {
    "bitrate": ["study.bitrates=[110000,8000000]", "study.bitrate_scale=0.5"],
    "pose": [
        "study.pose_descriptor=keypoints",
        "study.source_frames_per_video=1",
        "study.cross_pairs_per_video=1",
    ],
    "occlusion": ["study.num_bins=2"],
    "robustness": [
        "study.split=test",
        "~study.perturbations.rotate",
        "~study.perturbations.gaussian_noise",
        "~study.perturbations.jpeg",
        "~study.perturbations.h264",
        "study.perturbations.downscale.strengths=[1,0.5]",
        "study.perturbations.gaussian_blur.strengths=[0,2]",
    ],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("study_configs")
    real, fake = write_real_and_fake(root)
    return {
        "videos": root / "videos",
        "index": write_index(root / "index.csv", real, fake),
        "fomm": write_tiny_fomm(root / "fomm"),
        "detector": write_tiny_checkpoint(root / "detector.ckpt"),
    }


def overrides(study: str, inputs: dict, logger: str = "csv") -> list[str]:
    videos = inputs["index"] if study == "robustness" else inputs["videos"]
    return [
        f"study={study}",
        f"logger={logger}",
        "detector=whole_frame",
        "device=cpu",
        "options.progress=false",
        f"fomm.checkpoint={inputs['fomm']}",
        f"scorer.checkpoint={inputs['detector']}",
        "scorer.frames_per_video=2",
        "scorer.size=32",
        f"options.videos={videos}",
        *TINY[study],
    ]


@pytest.fixture(autouse=True)
def clear_hydra():
    yield
    GlobalHydra.instance().clear()


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_config_composes_and_runs(study, inputs, make_cfg):
    cfg = make_cfg(overrides(study, inputs), config_name="studies")
    assert cfg.study._target_ == f"loop.studies.{study}.{study}_study"
    table, summary = run_study(cfg)
    out = Path(cfg.paths.output_dir)
    assert summary["output_dir"] == str(out)
    for name in (
        f"{study}.csv",
        f"{study}_summary.csv",
        "summary.json",
        f"{study}_parameters.json",
    ):
        assert (out / name).is_file(), name
    assert list(out.glob("*.png"))
    written = json.loads((out / "summary.json").read_text())
    assert written["items"] > 0 and not written["skipped"]
    for name, value in written["results"].items():
        assert value is None or math.isfinite(value), name
        assert value is not None or written["null_reasons"][name]
    assert len(pd.read_csv(out / f"{study}.csv")) == len(table) > 0
    metrics = pd.read_csv(out / "csv" / "metrics.csv")
    logged = metrics.drop(columns="step").to_numpy(dtype=float)
    assert np.isfinite(logged[~np.isnan(logged)]).all() and (~np.isnan(logged)).any()
    assert any(c.startswith(f"{study}/summary/") for c in metrics.columns)


def test_robustness_perturbations_are_partial_functions(inputs, make_cfg):
    cfg = make_cfg(["study=robustness"], config_name="studies")
    names = set(cfg.study.perturbations)
    assert names == {"downscale", "rotate", "gaussian_blur", "gaussian_noise", "jpeg", "h264"}
    for name, entry in cfg.study.perturbations.items():
        assert entry.fn._target_ == f"loop.studies.perturbations.{name}"
        assert entry.fn._partial_ is True
        assert len(entry.strengths) >= 2


def test_the_scorer_unpickles_only_a_trusted_checkpoint(make_cfg, tmp_path):
    pickled = write_pickled_checkpoint(tmp_path / "pickled.ckpt")
    study = ["study=robustness", "detector=whole_frame", f"scorer.checkpoint={pickled}"]
    with pytest.raises(InputError, match="holds Python objects") as refused:
        run_study(make_cfg(study, config_name="studies"))
    assert "pass scorer.trust_checkpoint=true" in str(refused.value)
    trusted = make_cfg([*study, "scorer.trust_checkpoint=true"], config_name="studies")
    assert instantiate(trusted.scorer).model_names == ["pickled"]


def test_tensorboard_logger_gets_the_plots(inputs, make_cfg):
    cfg = make_cfg(overrides("occlusion", inputs, logger="tensorboard"), config_name="studies")
    run_study(cfg)
    events = list((Path(cfg.paths.output_dir) / "tensorboard").rglob("events.out.tfevents*"))
    assert events and max(e.stat().st_size for e in events) > 10_000


def run_command(arguments: list[str], tmp_path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "loop.studies", *arguments]
    command += [f"paths.log_dir={tmp_path / 'logs'}", "threads=1"]
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_multirun_writes_one_folder_per_job_and_logs_to_wandb(inputs, tmp_path):
    arguments = overrides("occlusion", inputs, logger="wandb")
    done = run_command(["-m", *arguments, "options.max_frames=3,5"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = sorted((tmp_path / "logs" / "study_occlusion" / "multiruns").rglob("summary.json"))
    assert len(summaries) == 2
    frames = sorted(json.loads(s.read_text())["results"]["frames"] for s in summaries)
    assert frames == [2 * 3, 2 * 5]
    assert list((tmp_path / "logs").rglob("wandb/offline-run-*"))


@pytest.mark.slow
def test_a_missing_checkpoint_is_one_line(inputs, tmp_path):
    done = run_command(["study=occlusion", "fomm.checkpoint=missing.ckpt"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: checkpoint missing.ckpt")
    assert "Traceback" not in done.stderr
