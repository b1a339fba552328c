"""The loop report's section on the self-blended detector, side by side with the supervised one.

Read from the stages' files (``sbi/``, ``studies/robustness*/summary.json``,
``crosseval/*.csv``) and ``metrics.json``'s numbers, so the section is the same whether
the stages ran now or were reused; a step that did not run is said to be missing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from loop import report_guide as guide

DETECTORS = {"supervised": "supervised (FOMM fakes)", "sbi": "self-blended (real faces only)"}
# (metrics.json key of the supervised detector, of the self-blended one, what it is)
SIDE_BY_SIDE = (
    ("video_auc", "sbi_video_auc", "video AUC, held-out real vs FOMM fake"),
    ("frame_auc", "sbi_frame_auc", "frame AUC"),
    ("video_balanced_accuracy", "sbi_balanced_accuracy", "balanced accuracy at score 0.5"),
    ("video_log_loss", "sbi_video_log_loss", "video log loss"),
)
# The headline numbers the stage adds to metrics.json, in the report's words.
MEANINGS = {
    "sbi_video_auc": "the self-blended detector's video AUC on the same test videos",
    "sbi_frame_auc": "the same over single frames",
    "sbi_balanced_accuracy": "its balanced accuracy of the video verdicts at score 0.5",
    "sbi_video_log_loss": "its log loss of the video scores",
}
TABLE_MEASURES = ("auc_video", "auc_frame", "ap_video", "eer_video", "logloss_video",
                  "bacc_video", "ece_video")  # fmt: skip


def _format(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a" if value is None else str(value)
    return f"{number:.3g}" if math.isfinite(number) else "n/a"


def _robustness_rows(out: Path) -> list[str]:
    summaries = {}
    for name, folder in (("supervised", "robustness"), ("sbi", "robustness_sbi")):
        path = out / "studies" / folder / "summary.json"
        summaries[name] = json.loads(path.read_text()).get("results", {}) if path.is_file() else {}
    keys = [k for k in summaries["supervised"] if k.startswith("auc_") and k in summaries["sbi"]]
    if not keys:
        return ["The robustness study of one of the detectors is missing.", ""]
    lines = [
        f"| robustness AUC | {DETECTORS['supervised']} | {DETECTORS['sbi']} |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `{key}` | {_format(summaries['supervised'][key])} | {_format(summaries['sbi'][key])} |"
        for key in keys
    ]
    lines += ["", "The self-blended detector's plots (the supervised one's are in section 4):", ""]
    for plot in sorted((out / "studies" / "robustness_sbi").glob("*.png")):
        lines += [f"![self-blended detector: {plot.stem}]({plot.relative_to(out)})", ""]
    return [
        *lines,
        "Everything: [studies/robustness_sbi/summary.json](studies/robustness_sbi/summary.json).",
        "",
    ]


def _cross_rows(out: Path) -> list[str]:
    path = out / "crosseval" / "crosseval.csv"
    if not path.is_file():
        return ["The cross-dataset table is missing.", ""]
    table = pd.read_csv(path)
    sets = list(dict.fromkeys(table["test_set"]))
    auc = table.pivot(index="detector", columns="test_set", values="auc_video")
    lines = [
        "| video AUC | " + " | ".join(f"`{s}`" for s in sets) + " |",
        "| --- |" + " --- |" * len(sets),
    ]
    for detector in auc.index:
        cells = " | ".join(_format(auc.loc[detector, s]) for s in sets)
        lines.append(f"| {DETECTORS.get(detector, detector)} | {cells} |")
    lines += [
        "",
        "| detector | test set | videos (real/fake) | " + " | ".join(TABLE_MEASURES) + " |",
    ]
    lines.append("| --- | --- | --- |" + " --- |" * len(TABLE_MEASURES))
    for row in table.to_dict(orient="records"):
        cells = " | ".join(_format(row[m]) for m in TABLE_MEASURES)
        counts = f"{row['real']}/{row['fake']}"
        lines.append(f"| {row['detector']} | `{row['test_set']}` | {counts} | {cells} |")
    return [*lines, "", guide.CROSS_TABLE, ""]


def _calibration_rows(out: Path) -> list[str]:
    path = out / "crosseval" / "calibration.csv"
    if not path.is_file():
        return ["The calibration table is missing.", ""]
    table = pd.read_csv(path)
    lines = [
        "| detector | fitted on | map | test set | ECE | balanced accuracy | log loss |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.to_dict(orient="records"):
        change = [
            f"{_format(row[f'{m}_before'])} -> {_format(row[f'{m}_after'])}"
            for m in ("ece", "bacc", "logloss")
        ]
        fitted = f"{row['fitted_on']}, {row['val_videos']} videos"
        shape = f"{row['method']} (slope {_format(row['slope'])}, bias {_format(row['bias'])})"
        lines.append(
            f"| {row['detector']} | {fitted} | {shape} | `{row['test_set']}` | "
            + " | ".join(change)
            + " |"
        )
    lines += ["", guide.CALIBRATION, ""]
    for plot in sorted((out / "crosseval" / "reliability").glob("*.png")):
        lines += [f"![reliability of {plot.stem}]({plot.relative_to(out)})", ""]
    return lines


def sbi_section(out: Path, metrics: Mapping[str, Any]) -> list[str]:
    """The report's lines on the self-blended detector (none when it did not run)."""
    if not (out / "sbi").is_dir():
        return []
    lines = [
        "## 5. A second detector from real faces only (self-blended)",
        "",
        guide.SBI,
        "",
        f"| | {DETECTORS['supervised']} | {DETECTORS['sbi']} |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {what} (`{ours}`) | {_format(metrics.get(theirs))} | {_format(metrics.get(ours))} |"
        for theirs, ours, what in SIDE_BY_SIDE
    ]
    preview = out / "sbi" / "self_blend_preview.png"
    if preview.is_file():
        lines += ["", "What it learnt from (real | mask | self-blend, a row per face):", ""]
        lines.append(f"![self-blended training faces]({preview.relative_to(out)})")
    lines += [
        "",
        "Per-video scores: [sbi/test/videos.csv](sbi/test/videos.csv); its index "
        "[sbi/index.csv](sbi/index.csv) (no fake outside the test split); training log "
        "[sbi/csv/metrics.csv](sbi/csv/metrics.csv).",
        "",
        "### Robustness, side by side",
        "",
        *_robustness_rows(out),
        "### The cross-dataset table of the loop's sets",
        "",
        *_cross_rows(out),
        "### Calibration on the validation split",
        "",
        *_calibration_rows(out),
        "Tables: [crosseval/crosseval.csv](crosseval/crosseval.csv), "
        "[crosseval/calibration.csv](crosseval/calibration.csv), face logits "
        "[crosseval/faces.csv](crosseval/faces.csv); the self-blended test videos: "
        "[self_blended/labels.csv](self_blended/labels.csv).",
        "",
    ]
    return lines
