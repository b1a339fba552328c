"""The Optuna sweep over the detector's learning rate and augmentation strength."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[2]
TEST_CONF = Path(__file__).resolve().parent / "conf"


@pytest.mark.slow
def test_optuna_sweep_tries_lr_and_strength_and_reports_the_best(face_dataset, tmp_path):
    index, faces_dir = face_dataset
    sweep_dir = tmp_path / "sweep"
    command = [
        sys.executable,
        "train.py",
        "-m",
        "model=effnet_att",
        "sweep=detector_optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={sweep_dir}",
        f"hydra.searchpath=[file://{TEST_CONF}]",
        "data=faces_synthetic",
        f"data.index={index}",
        f"data.faces_dir={faces_dir}",
        "model.net.backbone=test_efficientnet",
        "model.net.pretrained=false",
        "model.max_steps=4",
        "model.val_every_n_steps=2",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    results = OmegaConf.load(sweep_dir / "optimization_results.yaml")
    assert math.isfinite(results.best_value) and 0.0 <= results.best_value <= 1.0
    assert 1e-6 <= results.best_params["model.optimizer.lr"] <= 1e-3
    assert 0.0 <= results.best_params["data.augment.strength"] <= 2.0
    trials = [OmegaConf.load(p) for p in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))]
    assert len(trials) == 2
    lrs = {next(o for o in trial if o.startswith("model.optimizer.lr=")) for trial in trials}
    assert len(lrs) == 2  # the sampler proposed two learning rates
