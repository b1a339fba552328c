"""The pose study's summary: means per setting, correlations with the pose distance, plots.

Separate from the measuring (``pose.py``) because it only reads the per-pair table, so it
can be rerun on a finished study's CSV.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import pandas as pd
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from fakedetect.scoring import VideoScorer
from loop.studies.report import (
    StudyReport,
    StudyResult,
    binned_means,
    correlations,
    new_figure,
)

log = logging.getLogger(__name__)

STUDY = "pose"
MEASURES = ["l1", "kp_consistency", "pose_error", "detector_score"]


def finish_pose_study(
    report: StudyReport,
    descriptor: str,
    scorer: VideoScorer | None,
    num_bins: int,
    loggers: Sequence[Logger],
) -> StudyResult:
    """Summarise the pose study's per-pair table: means per setting, correlations, plots."""
    table = report.table
    if table.empty:
        hint = (
            " (the face detector found no landmarks; for drawn or non-photographic faces use "
            "study.pose_descriptor=keypoints)"
            if descriptor == "landmarks"
            else ""
        )
        raise InputError(f"pose study: no pair could be measured{hint}")
    numeric = MEASURES + ["pose_distance", "pose_distance_reference", "reference_frame"]
    for column in numeric:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    grouped = table.groupby(["pair_type", "init"], sort=False)
    by_setting = grouped[["pose_distance", "pose_distance_reference"] + MEASURES].mean()
    by_setting.insert(0, "pairs", grouped["pair"].nunique())
    by_setting = by_setting.reset_index()
    by_setting.insert(0, "setting", by_setting["pair_type"] + "/" + by_setting["init"])

    bins = []
    for (kind, init), rows in grouped:
        binned = binned_means(
            rows["pose_distance"], {m: rows[m] for m in MEASURES}, num_bins, quantiles=True
        )
        binned.insert(0, "init", init)
        binned.insert(0, "pair_type", kind)
        bins.append(binned)
    bins = pd.concat(bins, ignore_index=True)
    bins.to_csv(report.output_dir / "pose_bins.csv", index=False)

    results, reasons, extra = {}, {}, {}
    for row in by_setting.itertuples():
        for measure in MEASURES:
            results[f"{measure}_{row.pair_type}_{row.init}"] = getattr(row, measure)
    same = table[table["pair_type"] == "same"].pivot_table(
        index="pair", columns="init", values="l1"
    )
    if {"frame0", "best"} <= set(same.columns):
        gain = same["frame0"] - same["best"]
        results["l1_gain_best_frame"] = gain.mean()
        results["share_improved_by_best_frame"] = (gain > 0).mean() if len(gain) else math.nan
    reasons["l1_gain_best_frame"] = "no same-identity pair"
    checks = {
        "pose_vs_l1_same_frame0": ("same", "frame0", "pose_distance", "l1"),
        "pose_vs_l1_same_best": ("same", "best", "pose_distance", "l1"),
        "pose_vs_pose_error_cross_frame0": ("cross", "frame0", "pose_distance", "pose_error"),
        "pose_vs_kp_consistency_cross_frame0": (
            "cross",
            "frame0",
            "pose_distance",
            "kp_consistency",
        ),
        "proxy_pose_error_vs_l1_same": ("same", None, "pose_error", "l1"),
        "proxy_kp_consistency_vs_l1_same": ("same", None, "kp_consistency", "l1"),
    }
    for name, (kind, init, x, y) in checks.items():
        rows = table[(table["pair_type"] == kind) & ((table["init"] == init) if init else True)]
        extra[name] = correlations(rows[x], rows[y])
        results[f"spearman_{name}"] = extra[name]["spearman"]
        reasons[f"spearman_{name}"] = "fewer than 3 such pairs, or a constant measure"
    if scorer is None:
        report.note("no detector given: detector_score is NaN; pass scorer.checkpoint=PATH")
    for name in results:
        if name.startswith("detector_score"):
            reasons[name] = "no detector given (pass scorer.checkpoint=...)"
        elif name.startswith("l1_cross"):
            reasons[name] = "cross-identity pairs have no ground truth"
    _plot(report, table, num_bins)
    return report.finish(
        by_setting, results, reasons, group_column="setting", extra=extra, loggers=loggers
    )


def _plot(report: StudyReport, table: pd.DataFrame, num_bins: int) -> None:
    panels = [
        ("same", "l1", "same identity: L1 vs ground truth"),
        ("cross", "pose_error", "cross identity: pose error of the output"),
        (None, "kp_consistency", "keypoint consistency (px), all pairs"),
        (None, "detector_score", "detector score of the output"),
    ]
    figure, axes = new_figure(len(panels), columns=2)
    colours = {"frame0": "C3", "best": "C0"}
    for ax, (kind, measure, title) in zip(axes, panels, strict=True):
        rows = table if kind is None else table[table["pair_type"] == kind]
        ax.set_xlabel("pose distance, source vs driving frame 0")
        ax.set_title(title, fontsize=9)
        if rows.empty or rows[measure].isna().all():
            why = "no detector given" if measure == "detector_score" else "no such pairs"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            continue
        for init, colour in colours.items():
            chosen = rows[rows["init"] == init]
            ax.scatter(chosen["pose_distance"], chosen[measure], s=12, alpha=0.5, color=colour)
            line = binned_means(chosen["pose_distance"], {measure: chosen[measure]}, num_bins)
            ax.plot(line["x_mean"], line[f"{measure}_mean"], "o-", color=colour, label=init)
        ax.legend(fontsize=7, title="motion from", title_fontsize=7)
    report.save_figure(STUDY, figure)
