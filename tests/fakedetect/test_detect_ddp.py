"""Detectors under DDP on two CPU processes (gloo): binary and siamese fit and test as on one."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from ddp_recorders import read_weight_sums, weight_sums_overrides

import train
from fakedetect.calibration_store import read_calibration

RUN = [
    "model.net.pretrained=false",
    "data.augment=null",
    "callbacks.rich_progress_bar=null",
    "trainer.max_epochs=-1",
    "trainer.log_every_n_steps=1",
]
BINARY = [
    "model=effnet_b4",
    "model.net.backbone=efficientnet_b0",
    "data.image_size=64",
    "model.optimizer.lr=1e-3",
    "model.max_steps=4",
    "model.val_every_n_steps=2",
]
# An untrained efficientnet_b0 in eval mode gives every face the same features (scores
# equal to 1e-6, an AUC decided by float noise); timm's tiny test network does not.
SIAMESE = [
    "model=effnet_st",
    "model.net.backbone=test_efficientnet",
    "data.image_size=32",
    "model.triplet_optimizer.lr=1e-3",
    "model.head_optimizer.lr=1e-3",
    "model.triplet_max_steps=2",
    "model.triplet_val_every_n_steps=2",
    "model.head_max_steps=2",
    "model.head_val_every_n_steps=2",
]
TEST_FACES = 15


@pytest.fixture
def uneven_test_faces(face_dataset):
    """The synthetic dataset less one test frame: 15 test faces (4 videos x 4 frames - 1).

    Two processes then get unequal shares, and the distributed sampler pads one with a
    repeated face, which the metrics must count once.
    """
    faces_csv = face_dataset[1] / "faces.csv"
    faces = pd.read_csv(faces_csv)
    faces = faces[faces["face_rank"] == 0]  # the data config keeps one face a frame
    dropped = (faces["video"] == "test_fake_001") & (faces["frame"] == 30)
    faces[~dropped].to_csv(faces_csv, index=False)
    return face_dataset


def _outputs(cfg) -> tuple[dict[str, float], pd.DataFrame]:
    output = Path(cfg.paths.output_dir)
    metrics = json.loads((output / "metrics.json").read_text())
    videos = pd.read_csv(output / "test" / "videos.csv").sort_values("video", ignore_index=True)
    return metrics, videos


def _fit_and_test_under_ddp_then_on_one_process(detector_cfg, recipe, sums_path):
    """Fit and test with two processes, fit with one, test the DDP checkpoint with one.

    Returns:
        The DDP run's metrics and the checkpoint it tested.
    """
    ddp = detector_cfg([*recipe, *RUN, "trainer=ddp_cpu", *weight_sums_overrides(sums_path)])
    train.train(ddp)
    ddp_metrics, ddp_videos = _outputs(ddp)
    (tested,) = (Path(ddp.paths.output_dir) / "checkpoints").glob("best-*.ckpt")

    single = detector_cfg([*recipe, *RUN, "trainer=cpu"])
    train.train(single)
    assert set(ddp_metrics) == set(_outputs(single)[0])
    for name in ("test/auc_video", "test/logloss_frame", "val/loss"):
        assert math.isfinite(ddp_metrics[name]), name

    # The checkpoint the DDP run tested, evaluated by one process: every test face scored
    # once, the same video scores and metrics. Each face's logit is the same network on
    # the same pixels in eval mode; only convolution blocking and the order of float32
    # sums may differ, far below 1e-4.
    retest = detector_cfg([*recipe, *RUN, "train=false", f"ckpt_path={tested}"])
    train.train(retest)
    one_metrics, one_videos = _outputs(retest)
    assert ddp_videos["frames"].sum() == TEST_FACES
    assert ddp_videos["score"].nunique() == len(ddp_videos)  # AUC not decided by ties
    pd.testing.assert_frame_equal(ddp_videos, one_videos, check_exact=False, rtol=1e-4)
    tested_metrics = [name for name in one_metrics if name.startswith("test/")]
    # test/loss, five metrics at two levels, the video ECE, and the three video metrics
    # after the calibration the checkpoint carries (fitted on validation during the fit).
    assert len(tested_metrics) == 15
    # The calibrated metrics see the logits times the stored slope, which for a detector
    # trained a few steps is large (its logits barely spread): the float noise grows with it.
    calibration = read_calibration(tested)
    slope = max(1.0, calibration.slope) if calibration is not None else 1.0
    for name in tested_metrics:
        rel = 1e-4 * (slope if name.endswith("_calibrated") else 1.0)
        # ECE bins the probabilities: a video whose score moves by that noise can cross a
        # bin edge, a jump of a few 1e-4, not a different evaluation.
        tolerance = {"abs": 1e-3} if "ece" in name else {"rel": rel, "abs": 1e-6}
        assert ddp_metrics[name] == pytest.approx(one_metrics[name], **tolerance), name
    return ddp_metrics, tested


def _same_weights_on_both_processes(sums_path, learnt):
    first, second = read_weight_sums(sums_path)
    for network, value in first["after"].items():
        assert value == pytest.approx(second["after"][network], rel=1e-9), network
    for network in learnt:
        assert first["after"][network] != first["before"][network], network


@pytest.mark.slow
def test_detect_binary_fits_and_tests_under_ddp_as_on_one_process(
    detector_cfg, uneven_test_faces, tmp_path
):
    sums = tmp_path / "sums.json"
    metrics, _ = _fit_and_test_under_ddp_then_on_one_process(detector_cfg, BINARY, sums)
    assert math.isfinite(metrics["train/loss"])
    _same_weights_on_both_processes(sums, learnt=["net.backbone", "net.classifier"])


@pytest.mark.slow
def test_detect_siamese_phases_fit_and_test_under_ddp_as_on_one_process(
    detector_cfg, uneven_test_faces, tmp_path
):
    sums = tmp_path / "sums.json"
    metrics, tested = _fit_and_test_under_ddp_then_on_one_process(detector_cfg, SIAMESE, sums)
    # Both phases ran in the spawned processes: the triplet phase trained the extractor,
    # the head phase the head, and the best checkpoint (head phase) was tested.
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["val/auc_video"])
    assert torch.load(tested, weights_only=False)["siamese_phase"]["phase"] == "head"
    _same_weights_on_both_processes(sums, learnt=["net.feature_extractor", "net.classifier"])
