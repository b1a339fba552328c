"""FOMM's one occlusion map against TPSMM's multi-resolution masks, on the same videos.

Why: both models say where the source cannot be warped, FOMM with one map, TPSMM with a
mask per resolution. With ``cross_generator=true`` the loop has both trained on the same
data, so it runs the occlusion study with the second model's checkpoint too, on the same
test videos with the same settings, and puts the two side by side: per model and per
occlusion measure (the study's ``measures``, :mod:`loop.studies.occlusion_measures`),
how well it finds the frames where the face is really covered, how it follows the
reconstruction error, and how much it marks occluded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.training.selection import best_checkpoint
from loop import report_guide as guide
from loop.cross_generator import other_motion_model
from loop.studies.occlusion_measures import MEASURE_COLUMNS

COMPARISON_CSV = "occlusion_comparison.csv"
COLUMNS = ["model", *MEASURE_COLUMNS]  # the study's per-measure table, by model
# The measure each model's headline AUC is of: the soft measure of the map that blends
# the output (FOMM's one map, TPSMM's finest mask), and of TPSMM's masks combined.
HEADLINE_MEASURES = {"occlusion_mean": "", "occlusion_mean_combined": "_combined"}


def comparison_folder(out: Path, model: str) -> Path:
    """Where the occlusion study of the loop's second motion model writes."""
    return out / "studies" / f"occlusion_{model}"


def occlusion_comparison_rows(summaries: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, occlusion measure), from each model's occlusion study summary.

    Args:
        summaries: motion model -> the ``summary.json`` of its occlusion study.

    Returns:
        Rows of :data:`COLUMNS`, in the models' order, each model's measures in its
        study's order; a number the study could not compute is None.
    """
    rows = []
    for model, summary in summaries.items():
        for measure in summary.get("measures", []):
            row = {column: measure.get(column) for column in COLUMNS[1:]}
            rows.append({"model": model, **row})
    return rows


def occlusion_comparison_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Headline numbers for ``metrics.json``: ``occlusion_auc_<model>[_combined]``.

    Each is the AUC of telling the frames whose face is really covered from clean ones by
    the model's soft occlusion measure: of the map that blends the output, and for a
    TPSMM also of its masks combined.
    """
    metrics = {}
    for row in rows:
        suffix = HEADLINE_MEASURES.get(str(row["measure"]))
        if suffix is not None:
            metrics[f"occlusion_auc_{row['model']}{suffix}"] = _number(row["auc_true"])
    return metrics


def occlusion_comparison_meanings(metrics: Mapping[str, Any]) -> dict[str, str]:
    """What the report's headline table says of the comparison's numbers in ``metrics``."""
    meanings = {}
    for key in metrics:
        if not key.startswith("occlusion_auc_"):
            continue
        model = key.removeprefix("occlusion_auc_").removesuffix("_combined")
        if key.endswith("_combined"):
            mask = "its masks of every resolution combined"
        else:
            mask = "its occlusion map" if model == "fomm" else "its finest occlusion mask"
        meanings[key] = (
            f"{model}: AUC of {mask} (1 - mean) telling frames with the face covered from "
            "clean ones (0.5: not at all)"
        )
    return meanings


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _format(value: Any) -> str:
    number = _number(value) if not isinstance(value, str) else None
    return "n/a" if number is None else f"{number:.3f}"


def occlusion_comparison_markdown(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's section: every model's measures, and each model's best finder of cover."""
    if not rows:
        return []
    lines = [
        "## Occlusion maps: FOMM's one map against TPSMM's masks",
        "",
        guide.OCCLUSION_COMPARISON,
        "",
        "| model | mask | measure | mean occluded | AUC covered | Pearson covered "
        "| Spearman L1 | covered / clean |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['mask']} | {row['kind']} | {_format(row['mean'])} "
            f"| {_format(row['auc_true'])} | {_format(row['pearson_true'])} "
            f"| {_format(row['spearman_l1'])} "
            f"| {_format(row['mean_covered'])} / {_format(row['mean_clean'])} |"
        )
    lines.append("")
    for model in dict.fromkeys(row["model"] for row in rows):
        scored = [r for r in rows if r["model"] == model and _number(r["auc_true"]) is not None]
        if scored:
            best = max(scored, key=lambda r: _number(r["auc_true"]))
            lines.append(
                f"- {model}: best finder of covered faces `{best['measure']}`, AUC "
                f"{_number(best['auc_true']):.3f}"
            )
        else:
            lines.append(
                f"- {model}: no AUC (no true occlusions known, or no covered and clean "
                "frames among the studied ones: see its study's null_reasons)"
            )
    lines += [
        "",
        f"Table: [studies/{COMPARISON_CSV}](studies/{COMPARISON_CSV}); each model's "
        "study: `studies/occlusion/` (the loop's motion model) and `studies/occlusion_<model>/`.",
        "",
    ]
    return lines


def run_occlusion_comparison(
    primary: str,
    primary_summary: Mapping[str, Any],
    overrides: Sequence[str],
    out: Path,
    run_study: Callable[..., Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Study the second motion model's occlusion masks and compare them with the first's.

    The cross-generator stage must have trained the other model (``out/<other>``).

    Args:
        primary: the loop's motion model, whose occlusion study is ``primary_summary``.
        primary_summary: its ``summary.json``.
        overrides: that study's overrides, less ``fomm.checkpoint`` (the same videos and
            settings for both).
        out: the loop's output folder.
        run_study: ``run_study(study, overrides, folder, run_name=...)`` runs a study into
            a folder (``run_name``: its dashboard run) and returns its summary: the
            loop's resumable :func:`loop.run.run_study_stage`.

    Returns:
        :func:`occlusion_comparison_rows` of both, also written to
        ``out/studies/occlusion_comparison.csv``.
    """
    other = other_motion_model(primary)
    checkpoint = best_checkpoint(out / other)
    summary = run_study(
        "occlusion",
        [*overrides, f"fomm.checkpoint={checkpoint}"],
        comparison_folder(out, other),
        run_name=f"study_occlusion_{other}",
    )
    rows = occlusion_comparison_rows({primary: primary_summary, other: summary})
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out / "studies" / COMPARISON_CSV, index=False)
    return rows
