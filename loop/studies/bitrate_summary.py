"""The bitrate study's summary: means per setting, the encoder's notes, plots.

Separate from the measuring (``bitrate.py``) because it only reads the per-(video,
setting) table, as ``pose_summary.py`` does for the pose study.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from fakedetect.scoring import VideoScorer
from loop.studies.report import StudyReport, StudyResult, correlations, new_figure, short_number

STUDY = "bitrate"
# What is measured per (video, setting), averaged per setting in bitrate_summary.csv.
MEASURES = [
    "actual_bitrate",
    "file_bytes",
    "driving_mae",
    "driving_psnr",
    "l1",
    "l1_delta",
    "l1_relative",
    "kp_jitter",
    "kp_speed",
    "kp_error",
    "detector_score",
    "detector_score_driving",
]


def setting_name(bitrate: float) -> str:
    """110000 -> ``110k``, 1000000 -> ``1M``, 2500 -> ``2.5k``."""
    return short_number(bitrate)


def finish_bitrate_study(
    report: StudyReport, scorer: VideoScorer | None, loggers: Sequence[Logger]
) -> StudyResult:
    """Means and spreads per setting, the headline numbers, notes on the encoder, plots."""
    table = report.table
    if table.empty:
        raise InputError(
            f"bitrate study: no video could be studied ({len(report.skipped)} skipped; see "
            "the warnings)"
        )
    for column in MEASURES + ["target_bitrate", "nominal_bitrate"]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    order = ["original"] + [
        setting_name(t) for t in sorted(table["target_bitrate"].dropna().unique())
    ]
    grouped = table.groupby("setting", sort=False)
    by_setting = grouped[["nominal_bitrate", "target_bitrate"] + MEASURES].mean()
    by_setting.insert(0, "videos", grouped["video"].nunique())
    for measure in ("l1", "l1_delta", "kp_jitter", "detector_score"):
        by_setting[f"{measure}_std"] = grouped[measure].std()
    by_setting = by_setting.reindex([s for s in order if s in by_setting.index])
    by_setting = by_setting.rename_axis("setting").reset_index()

    results, reasons = {}, {}
    for row in by_setting.itertuples():
        for measure in ("l1", "kp_jitter", "kp_error", "detector_score", "actual_bitrate"):
            results[f"{measure}_{row.setting}"] = getattr(row, measure)
        if row.setting != "original":
            results[f"l1_delta_{row.setting}"] = row.l1_delta
        if "relative" in report.parameters and report.parameters["relative"]:
            results[f"l1_relative_{row.setting}"] = row.l1_relative
    if scorer is None:
        for name in results:
            if name.startswith("detector_score"):
                reasons[name] = "no detector given (pass scorer.checkpoint=...)"
        report.note("no detector given: detector scores are NaN; pass scorer.checkpoint=PATH")
    encoded = table[table["setting"] != "original"]
    trend = correlations(np.log10(encoded["actual_bitrate"]), encoded["l1"])
    results["spearman_log_bitrate_l1"] = trend["spearman"]
    reasons["spearman_log_bitrate_l1"] = "needs 3 or more re-encodes with different bitrates"
    _rate_notes(report, by_setting, table)
    _plot(report, by_setting, table)
    return report.finish(
        by_setting,
        results,
        reasons,
        extra={"correlation_log_bitrate_l1": trend},
        loggers=loggers,
    )


def _rate_notes(report: StudyReport, by_setting: pd.DataFrame, table: pd.DataFrame) -> None:
    """Say where libx264 could not hold a target, and which settings gave the same video."""
    size = f"{int(table['width'].iloc[0])}x{int(table['height'].iloc[0])} px"
    encoded = by_setting[by_setting["setting"] != "original"]
    for row in encoded.itertuples():
        ratio = row.actual_bitrate / row.target_bitrate
        if ratio > 1.5:
            report.note(
                f"{row.setting}: libx264 spent {row.actual_bitrate / 1e3:.1f} kbit/s, above its "
                f"target: its floor at {size}; compare settings by actual_bitrate"
            )
        elif ratio < 0.67:
            report.note(
                f"{row.setting}: libx264 spent only {row.actual_bitrate / 1e3:.1f} kbit/s: at "
                f"{size} it needs no more (near-lossless already); higher targets add nothing"
            )
    rates = encoded["actual_bitrate"].to_numpy()
    names = encoded["setting"].tolist()
    for a in range(len(rates)):
        for b in range(a + 1, len(rates)):
            if abs(rates[a] - rates[b]) <= 0.05 * max(rates[a], rates[b]):
                report.note(f"{names[a]} and {names[b]} gave nearly the same video (same bitrate)")


def _plot(report: StudyReport, by_setting: pd.DataFrame, table: pd.DataFrame) -> None:
    panels = [
        ("l1", "reconstruction L1 vs original"),
        ("l1_delta", "L1 minus the original file's (same video)"),
        ("kp_jitter", "keypoint jitter (px)"),
        ("kp_error", "keypoint shift from original (px)"),
        ("detector_score", "detector score of the output"),
        ("driving_psnr", "driving video PSNR (dB)"),
    ]
    figure, axes = new_figure(len(panels))
    encoded = by_setting[by_setting["setting"] != "original"]
    original = by_setting[by_setting["setting"] == "original"]
    x = encoded["actual_bitrate"].to_numpy()
    for ax, (measure, title) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("actual video bitrate (bit/s)")
        if encoded[measure].isna().all():
            why = "no detector given" if measure == "detector_score" else "not measured"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
            continue
        for _, rows in table[table["setting"] != "original"].groupby("video"):
            rows = rows.sort_values("actual_bitrate")
            ax.plot(rows["actual_bitrate"], rows[measure], color="0.8", lw=0.8, zorder=1)
        ax.plot(x, encoded[measure], "o-", color="C0", lw=2, label="mean of videos", zorder=3)
        for name, xv, yv in zip(encoded["setting"], x, encoded[measure], strict=True):
            ax.annotate(name, (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if measure == "l1" and encoded["l1_relative"].notna().any():
            ax.plot(x, encoded["l1_relative"], "s--", color="C2", label="relative motion")
        if measure == "detector_score" and encoded["detector_score_driving"].notna().any():
            ax.plot(x, encoded["detector_score_driving"], "s--", color="C3", label="driving (real)")
        if not original.empty and np.isfinite(original[measure].iloc[0]):
            ax.axhline(original[measure].iloc[0], color="k", ls=":", label="original file")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=7)
    report.save_figure(STUDY, figure)
