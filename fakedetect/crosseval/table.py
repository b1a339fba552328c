"""The rows of the cross-dataset table: one per detector, test set and subset.

A subset is ``all`` (the whole set) or, where the set's fakes come from two or more
manipulation methods (FF++'s ``method`` column: Deepfakes, Face2Face, FaceSwap,
NeuralTextures, FaceShifter), one per method: that method's fakes against all the set's
real videos, the usual per-manipulation protocol.

Metrics are computed on the videos with a scored face (``videos``); those without a face
(``no_face``) or that could not be read (``unreadable``) are counted, not scored: a video
AUC over the scored videos only. Video scores are the sigmoid of the mean face logit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy.special import expit

from fakedetect.metrics import detection_metrics
from fakedetect.reliability import DEFAULT_BINS, expected_calibration_error

TABLE_COLUMNS = [
    "detector",
    "test_set",
    "subset",
    "videos",
    "real",
    "fake",
    "no_face",
    "unreadable",
    "auc_video",
    "auc_frame",
    "ap_video",
    "eer_video",
    "logloss_video",
    "bacc_video",
    "ece_video",
    "calibration",
    "logloss_video_calibrated",
    "bacc_video_calibrated",
    "ece_video_calibrated",
]


def subsets(videos: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """``("all", every video)`` and, with two or more fake methods, one entry per method."""
    out = [("all", pd.Series(True, index=videos.index))]
    fake_methods = sorted(set(videos.loc[videos["label"] == 1, "method"]) - {""})
    if len(fake_methods) >= 2:
        for method in fake_methods:
            out.append((method, (videos["label"] == 0) | (videos["method"] == method)))
    return out


def _measures(logits: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, float]:
    if len(logits) == 0:
        return {}
    values = detection_metrics(torch.tensor(logits), torch.tensor(labels))
    measures = {name: float(value) for name, value in values.items()}
    measures["ece"] = expected_calibration_error(expit(logits), labels, bins)
    return measures


def metrics_row(
    videos: pd.DataFrame, frames: pd.DataFrame, bins: int = DEFAULT_BINS
) -> dict[str, float]:
    """Counts and metrics of one subset.

    Args:
        videos: its video table (``status``, ``label``, ``logit`` and, when the detector
            is calibrated, ``logit_calibrated``).
        frames: its face table (``label``, ``logit``).
        bins: reliability bins of the ECE.
    """
    scored = videos[videos["status"] == "ok"]
    logits = scored["logit"].to_numpy(np.float64)
    labels = scored["label"].to_numpy(np.float64)
    raw = _measures(logits, labels, bins)
    frame = _measures(frames["logit"].to_numpy(np.float64), frames["label"].to_numpy(np.float64), 1)
    row = {
        "videos": len(scored),
        "real": int((scored["label"] == 0).sum()),
        "fake": int((scored["label"] == 1).sum()),
        "no_face": int((videos["status"] == "no_face").sum()),
        "unreadable": int((videos["status"] == "unreadable").sum()),
        "auc_frame": frame.get("auc", math.nan),
    }
    for name in ("auc", "ap", "eer", "logloss", "bacc", "ece"):
        row[f"{name}_video"] = raw.get(name, math.nan)
    calibrated = scored.get("logit_calibrated")
    after = {}
    if calibrated is not None and calibrated.notna().all():
        after = _measures(calibrated.to_numpy(np.float64), labels, bins)
    for name in ("logloss", "bacc", "ece"):
        row[f"{name}_video_calibrated"] = after.get(name, math.nan)
    return row


def evaluation_rows(
    detector: str,
    test_set: str,
    videos: pd.DataFrame,
    frames: pd.DataFrame,
    calibration: str,
    bins: int = DEFAULT_BINS,
) -> list[dict[str, object]]:
    """The table rows of one detector on one set: ``all`` and one per fake method."""
    rows = []
    for subset, mask in subsets(videos):
        chosen = videos[mask]
        faces = frames[frames["video"].isin(chosen["video"])]
        row = {"detector": detector, "test_set": test_set, "subset": subset}
        row.update(metrics_row(chosen, faces, bins), calibration=calibration)
        rows.append({column: row[column] for column in TABLE_COLUMNS})
    return rows
