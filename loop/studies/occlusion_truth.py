"""How well an occlusion map finds what is really hidden: the study against known events.

On generated data the truth is known: ``occlusion_events.csv`` of the embedded dataset
(:mod:`datamodules.synthetic_occlusion_events`) gives, per frame, the share of the face a
hand or an object covers. A map that marks occlusions should mark more where the face is
covered: this module looks the truth up for each studied frame and scores the map's two
measures against it (correlations, the ROC AUC of telling covered frames from clean
ones, and the measures and the error on each kind of frame).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.classification import binary_auroc

from datamodules.command_errors import InputError
from datamodules.synthetic_occlusion_events import read_occlusion_events
from loop.studies.report import correlations

MEASURES = ("occluded_fraction", "occlusion_mean")


class OcclusionTruth:
    """The share of the face covered in each frame of each known video.

    Args:
        events_csv: an ``occlusion_events.csv``.
        covered_threshold: frames whose covered face share is at least this count as
            occluded (for the AUC and the per-kind means).

    Raises:
        InputError: a missing or malformed table, or a threshold outside (0, 1].
    """

    def __init__(self, events_csv: str | os.PathLike, covered_threshold: float = 0.1) -> None:
        if not 0 < covered_threshold <= 1:
            raise InputError(f"covered_threshold={covered_threshold} must be in (0, 1]")
        try:
            table = read_occlusion_events(events_csv)
        except (FileNotFoundError, ValueError) as error:
            raise InputError(f"study.events_csv: {error}") from error
        self.path = Path(events_csv)
        self.covered_threshold = covered_threshold
        self._covered = {
            (video, int(frame)): float(covered)
            for video, frame, covered in table[["video", "frame", "face_covered"]].itertuples(
                index=False
            )
        }
        self._videos = set(table["video"])

    def knows(self, video: str) -> bool:
        """Whether the table has ``video`` (a study id; its file stem is looked up)."""
        return Path(video).name in self._videos

    def face_covered(self, video: str, frame: int) -> float:
        """The covered share of the face in that frame; NaN for a frame the table lacks."""
        return self._covered.get((Path(video).name, frame), math.nan)


def measure_truth_scores(
    table: pd.DataFrame, measure: str, covered_threshold: float
) -> dict[str, float]:
    """How well one occlusion measure finds the frames whose face is really covered.

    Returns:
        ``pearson_true`` (with the covered share), ``auc_true`` (covered frames told from
        clean ones; NaN unless both kinds are studied), and the measure's means on each
        kind, ``covered`` and ``clean``.
    """
    known = table[np.isfinite(table["face_covered"])]
    covered = known["face_covered"] >= covered_threshold
    both = 0 < covered.sum() < len(known)
    return {
        "pearson_true": correlations(known[measure], known["face_covered"])["pearson"],
        "auc_true": (
            float(
                binary_auroc(
                    torch.tensor(known[measure].to_numpy(np.float64)),
                    torch.tensor(covered.to_numpy(np.int64)),
                )
            )
            if both
            else math.nan
        ),
        "covered": float(known.loc[covered, measure].mean()),
        "clean": float(known.loc[~covered, measure].mean()),
    }


def truth_results(
    table: pd.DataFrame, covered_threshold: float, measures: Sequence[str] = MEASURES
) -> tuple[dict[str, float], dict[str, str]]:
    """Score the map's measures against ``face_covered`` (the table's truth column).

    Args:
        table: the study's per-frame table.
        covered_threshold: frames with at least this share of the face covered count as
            occluded.
        measures: the table's occlusion measures to score (a TPSMM's study adds its
            combined multi-resolution measures).

    Returns:
        The results (``covered_frames``, ``face_covered_mean``, ``pearson_<measure>_true``,
        ``auc_<measure>_true``, ``<measure>_covered`` and ``<measure>_clean`` means,
        ``l1_covered``, ``l1_clean``) and why any of them is null.
    """
    known = table[np.isfinite(table["face_covered"])]
    covered = known["face_covered"] >= covered_threshold
    results: dict[str, float] = {
        "covered_frames": int(covered.sum()),
        "face_covered_mean": float(known["face_covered"].mean()) if len(known) else math.nan,
    }
    for measure in measures:
        scores = measure_truth_scores(known, measure, covered_threshold)
        results[f"pearson_{measure}_true"] = scores["pearson_true"]
        results[f"auc_{measure}_true"] = scores["auc_true"]
        results[f"{measure}_covered"] = scores["covered"]
        results[f"{measure}_clean"] = scores["clean"]
    results["l1_covered"] = float(known.loc[covered, "l1"].mean())
    results["l1_clean"] = float(known.loc[~covered, "l1"].mean())
    split = (
        f"no studied frame has the face {covered_threshold:.0%} covered, or none is clean "
        "(more videos or frames, or another covered_threshold)"
    )
    reasons = {f"auc_{m}_true": split for m in measures}
    reasons |= {f"{m}_covered": split for m in measures} | {f"{m}_clean": split for m in measures}
    reasons |= {"l1_covered": split, "l1_clean": split}
    reasons |= {
        f"pearson_{m}_true": "no frame is covered, or the measure is constant" for m in measures
    }
    reasons["face_covered_mean"] = "no studied video is in the events table"
    return results, reasons
