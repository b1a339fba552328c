"""A loop run folder as ``make run`` leaves it, with tiny random weights, for the app tests."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
import yaml
from fomm_tool_media import TINY_MODEL_PARAMS
from pipeline_checkpoints import write_tiny_checkpoint
from tpsmm_tiny import tiny_params

from fomm.nets import build_networks
from fomm.tpsmm.nets import build_tpsmm_networks

RUN_NAME = "2026-11-30_08-00-00"
NO_GRADIO = "gradio is not installed: `make test-browser` (or `make app`) installs the app extra"

# What the embedded loop scores its detector with (conf/pipeline/embedded.yaml), fewer frames.
STUDY_OVERRIDES = [
    "detector=whole_frame",
    "scorer.policy=tight",
    "scorer.margin=0.0",
    "scorer.size=64",
    "scorer.frames_per_video=4",
    "logger=csv",
]


def write_tiny_fomm_ckpt(path: Path, size: int = 64, seed: int = 0) -> Path:
    """A Lightning-style FOMM ``.ckpt`` of random tiny networks (what fomm.checkpoint reads)."""
    torch.manual_seed(seed)
    networks = build_networks(TINY_MODEL_PARAMS)
    state = {
        f"networks.{name}.{key}": value
        for name in ("kp_detector", "generator", "discriminator")
        for key, value in getattr(networks, name).state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "pytorch-lightning_version": pl.__version__,
            "hyper_parameters": {"model_params": TINY_MODEL_PARAMS},
            "fomm_meta": {"frame_shape": [size, size, 3]},
            "state_dict": state,
        },
        path,
    )
    return path


def write_tiny_tpsmm_ckpt(path: Path, size: int = 64, seed: int = 0) -> Path:
    """A TPSMM ``.ckpt`` of random tiny networks as its AVD stage saves it (AVD included)."""
    torch.manual_seed(seed)
    networks = build_tpsmm_networks(tiny_params())
    hparams = {"model_params": tiny_params(), "train_params": {}, "train_avd_params": {}}
    state = {f"networks.{key}": value for key, value in networks.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"fomm_meta": {"frame_shape": [size, size, 3]}}
    torch.save({"state_dict": state, "hyper_parameters": hparams, **meta}, path)
    return path


def _record(stage_dir: Path, checkpoint: Path) -> None:
    record = {
        "best_model_path": str(checkpoint.relative_to(stage_dir)),
        "best_model_score": 0.5,
        "last_model_path": "",
        "mode": "min",
        "monitor": "val/loss",
    }
    (stage_dir / "checkpoints.json").write_text(json.dumps(record))


def write_loop_run(runs_dir: Path, name: str, sample_video: Path) -> Path:
    """A finished loop run (``cross_generator=true``): checkpoints, records, config, report."""
    run = runs_dir / name
    fomm = write_tiny_fomm_ckpt(run / "fomm" / "checkpoints" / "best.ckpt")
    _record(run / "fomm", fomm)
    tpsmm = write_tiny_tpsmm_ckpt(run / "tpsmm" / "checkpoints" / "best.ckpt")
    _record(run / "tpsmm", tpsmm)
    detector = write_tiny_checkpoint(run / "detector" / "checkpoints" / "best.ckpt")
    _record(run / "detector", detector)
    (run / ".hydra").mkdir()
    config = {"pipeline": {"study_overrides": STUDY_OVERRIDES}}
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = {"video_auc": 0.75, "reconstruction_l1": 0.05, "seconds": {"fomm": 60.0}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "report.md").write_text("# deepfake-lab: the loop report\n\nA test report.\n")
    shutil.copy(sample_video, run / "animation.mp4")
    plots = run / "studies" / "bitrate"
    plots.mkdir(parents=True)
    cv2.imwrite(str(plots / "bitrate_l1.png"), np.full((40, 60, 3), 200, np.uint8))
    return run


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
