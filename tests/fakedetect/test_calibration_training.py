"""A detector trained by train.py carries the calibration of its best checkpoint's validation."""

import json
from pathlib import Path

import torch

import train
from fakedetect.calibration_store import read_calibration

TINY = ["model.net.backbone=test_efficientnet", "model.net.pretrained=false"]


def test_best_checkpoint_carries_its_validation_calibration(detector_cfg):
    cfg = detector_cfg(
        [
            "model=effnet_b4",
            *TINY,
            "model.max_steps=4",
            "model.val_every_n_steps=2",
            "model.scheduler=null",
            "callbacks.rich_progress_bar=null",
            "trainer.max_epochs=-1",
        ]
    )
    train.train(cfg)
    run = Path(cfg.paths.output_dir)
    record = json.loads((run / "checkpoints.json").read_text())
    best = run / record["best_model_path"]
    stored = torch.load(best, weights_only=True, map_location="cpu")
    assert stored["calibration"]["step"] == stored["global_step"]
    assert stored["calibration"]["fitted_on"] == "val"
    assert stored["calibration"]["samples"] == 4  # the synthetic val split: 2 real, 2 fake
    calibration = read_calibration(best)
    assert calibration.method == "platt" and calibration.slope > 0
    metrics = json.loads((run / "metrics.json").read_text())
    for name in ("ece_video_calibrated", "logloss_video_calibrated", "bacc_video_calibrated"):
        assert f"test/{name}" in metrics
    assert "val/ece_video" in metrics and "test/ece_video" in metrics
