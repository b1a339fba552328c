"""The loop's report folder: a sample animation, headline numbers and ``report.md``.

The report is for a person and reads on its own: every number comes with what it means
and the file it came from, each stage and study with how to read its numbers and what
they are compared with (:mod:`loop.report_guide`), every plot a study drew is shown, and
the commands to rerun or scale up are at the end.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Mapping
from datetime import datetime
from numbers import Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from datamodules.video_io import read_frames
from loop import report_guide as guide
from loop.cross_generator import cross_generator_markdown
from loop.occlusion_comparison import (
    COMPARISON_CSV,
    occlusion_comparison_markdown,
    occlusion_comparison_meanings,
)
from loop.report_sbi import MEANINGS as SBI_MEANINGS
from loop.report_sbi import sbi_section

# What each headline number means, in the words the report uses.
MEANINGS = {
    "video_auc": "detector AUC over test videos (held-out identities), real vs FOMM fake",
    "frame_auc": "the same over single frames",
    "video_balanced_accuracy": "balanced accuracy of the video verdicts at score 0.5",
    "video_log_loss": "log loss of the video scores",
    "reconstruction_l1": "FOMM test reconstruction L1 (source = frame 0, pixels in [0, 1])",
    "reconstruction_l1_no_motion": "the same for copying frame 0 to every frame (no motion)",
    "reconstruction_l1_frozen_keypoints": "this FOMM driven by frame 0 itself (no motion)",
    "fomm_val_l1": "FOMM validation L1 of the chosen checkpoint",
    **SBI_MEANINGS,
}


DETECTOR_NUMBERS = ("video_auc", "frame_auc", "video_balanced_accuracy", "video_log_loss")


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def headline_numbers(studies: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Each study's ``results`` (its per-setting headline numbers), named ``<study>/<key>``."""
    return {
        f"{study}/{key}": float(value) if _is_number(value) else None
        for study, summary in studies.items()
        for key, value in summary.get("results", {}).items()
        if _is_number(value) or value is None
    }


def sample_animation(labels_csv: Path, checkpoint: Path, output: Path) -> dict[str, Any] | None:
    """Animate a test-split source with another test identity's video, as a deepfake maker would.

    The pair is the first test fake of the generated dataset, so the sample shows exactly
    what the detector was tested on, side by side with its source and driving video.

    Returns:
        The files written and the pair used, or None when the dataset has no test fake.
    """
    from fomm.animate import animate_files

    labels = pd.read_csv(labels_csv, keep_default_na=False)
    fakes = labels[(labels["label"] == 1) & (labels["split"] == "test")]
    if fakes.empty:
        return None
    fake = fakes.iloc[0]
    by_id = labels.set_index("video")
    root = labels_csv.parent
    source_video = root / by_id.loc[fake["original"], "path"]
    driving_video = root / by_id.loc[fake["driving_video"], "path"]
    source_png = output.with_suffix(".source.png")
    if not (output.is_file() and source_png.is_file()):
        frame = read_frames(source_video, [0])[0]
        cv2.imwrite(str(source_png), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        animate_files(
            source_png,
            driving_video,
            output,
            checkpoint=checkpoint,
            side_by_side=True,
            progress=False,
            device="cpu",
        )
    return {
        "animation": output.name,
        "side_by_side": output.with_suffix(".side_by_side.mp4").name,
        "source_image": source_png.name,
        "source_identity": str(fake["source_identity"]),
        "driving_video": str(fake["driving_video"]),
    }


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if _is_number(value):
        return f"{value:.4g}"
    return str(value)


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    lines = ["| | value | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | {value} | {meaning} |" for name, value, meaning in rows]
    return lines


def _study_section(name: str, folder: Path, summary: Mapping[str, Any], out: Path) -> list[str]:
    lines = [f"### {name}", ""]
    if name in guide.STUDIES:
        lines += [guide.STUDIES[name], ""]
    reasons = summary.get("null_reasons", {})
    results = summary.get("results", {})
    if results:
        rows = [(key, _format(value), reasons.get(key, "")) for key, value in results.items()]
        lines += [*_table(rows), ""]
    lines += [f"> {note}" for note in summary.get("notes", [])]
    lines += [f"> skipped: {item}" for item in summary.get("skipped", [])]
    lines.append("")
    for plot in sorted(folder.glob("*.png")):
        lines += [f"![{name}: {plot.stem}]({plot.relative_to(out)})", ""]
    tables = ", ".join(f"[{t.name}]({t.relative_to(out)})" for t in sorted(folder.glob("*.csv")))
    summary_link = f"[summary.json]({folder.relative_to(out)}/summary.json)"
    lines += [f"Tables: {tables}; everything: {summary_link}.", ""]
    return lines


def _fakes_section(out: Path) -> list[str]:
    summary_file = out / "fakes" / "summary.json"
    labels_file = out / "fakes" / "labels.csv"
    if not labels_file.is_file():
        return ["The generated dataset is missing.", ""]
    labels = pd.read_csv(labels_file, keep_default_na=False)
    counts = labels.groupby(["split", "label"]).size().unstack(fill_value=0)
    identities = labels.groupby("split")["source_identity"].nunique()
    lines = ["| split | real | fake | identities |", "| --- | --- | --- | --- |"]
    for split in counts.index:
        real = counts.loc[split].get(0, 0)
        fake = counts.loc[split].get(1, 0)
        lines.append(f"| {split} | {real} | {fake} | {identities.get(split, 0)} |")
    skipped = []
    if summary_file.is_file():
        skipped = json.loads(summary_file.read_text()).get("skipped", [])
    lines += [
        "",
        guide.FAKES,
        "",
        f"Inputs skipped as unreadable: {len(skipped)}. "
        f"Index: [fakes/labels.csv](fakes/labels.csv).",
        "",
    ]
    return lines


def _fomm_verdict(metrics: Mapping[str, Any]) -> list[str]:
    """Read the FOMM test L1 against its two baselines, in words.

    Copying frame 0 says whether animating beats standing still; the frozen-keypoint run
    (the same generator given no motion) says whether the keypoints carry motion that the
    generator uses, even while its pixels are still blurrier than a copy.
    """
    l1 = metrics.get("reconstruction_l1")
    copy = metrics.get("reconstruction_l1_no_motion")
    frozen = metrics.get("reconstruction_l1_frozen_keypoints")
    if not all(_is_number(v) for v in (l1, copy, frozen)):
        return ["The FOMM test numbers are missing: see `fomm/metrics.json`.", ""]
    motion = f"driven by the real motion it scores {l1:.4f}, by no motion {frozen:.4f}: " + (
        f"its keypoints transfer motion ({(frozen - l1) / frozen:.0%} lower error)."
        if l1 < frozen
        else "its keypoints do not carry usable motion yet; train it longer."
    )
    copying = f"Copying frame 0 to every frame scores {copy:.4f}; " + (
        "the model beats it."
        if l1 < copy
        else "the model does not beat it yet: its generator still blurs what a copy "
        "keeps (more steps or channels)."
    )
    return [f"Test L1 (source = frame 0 of each test video): {motion} {copying}", ""]


def write_report(
    out: Path,
    metrics: Mapping[str, Any],
    studies: Mapping[str, Mapping[str, Any]],
    animation: Mapping[str, Any] | None,
    pipeline: Mapping[str, Any],
) -> Path:
    """Write ``out/report.md`` from the stages' outputs and return its path."""
    seconds = metrics.get("seconds", {})
    motion = metrics.get("motion_model", "fomm")
    headline = {**MEANINGS, **occlusion_comparison_meanings(metrics)}
    lines = [
        "# deepfake-lab: the loop report",
        "",
        f"{datetime.now():%Y-%m-%d %H:%M}, on {platform.node()} "
        f"({platform.processor() or platform.machine()}); total "
        f"{sum(seconds.values()) / 60:.1f} min. Numbers: [metrics.json](metrics.json).",
        "",
        "## Headline numbers",
        "",
        *_table([(k, _format(metrics.get(k)), m) for k, m in headline.items()]),
        "",
        "## 1. FOMM, trained here",
        "",
        *_fomm_verdict(metrics),
        guide.FOMM,
        "",
        f"Training log ({motion}): [{motion}/csv/metrics.csv]({motion}/csv/metrics.csv), "
        f"checkpoints in `{motion}/checkpoints/`.",
        "",
    ]
    if animation:
        lines += [
            f"Sample deepfake: identity `{animation['source_identity']}` driven by "
            f"`{animation['driving_video']}`: [{animation['animation']}]({animation['animation']}),"
            f" side by side (source | driving | result): "
            f"[{animation['side_by_side']}]({animation['side_by_side']}).",
            "",
        ]
    lines += ["## 2. Deepfakes made with it", "", *_fakes_section(out)]
    lines += [
        "## 3. The detector on held-out identities",
        "",
        *_table([(k, _format(metrics.get(k)), MEANINGS[k]) for k in DETECTOR_NUMBERS]),
        "",
        guide.DETECTOR,
        "",
        "Per-video scores: [detector/test/videos.csv](detector/test/videos.csv); training log: "
        "[detector/csv/metrics.csv](detector/csv/metrics.csv).",
        "",
        "## 4. Studies",
        "",
    ]
    for name, summary in studies.items():
        lines += _study_section(name, out / "studies" / name, summary, out)
    comparison = out / "studies" / COMPARISON_CSV
    if comparison.is_file():
        rows = pd.read_csv(comparison)
        lines += occlusion_comparison_markdown(rows.to_dict(orient="records"))
    cross = out / "cross_generator.json"
    if cross.is_file():
        lines += cross_generator_markdown(json.loads(cross.read_text()))
    lines += sbi_section(out, metrics)
    lines += [
        "## Time per stage",
        "",
        "| stage | seconds |",
        "| --- | --- |",
        *[f"| {stage} | {value} |" for stage, value in seconds.items()],
        "",
        "## Settings",
        "",
        "Each stage is a `train.py` or `loop.studies` run with these overrides (`conf/pipeline/`):",
        "",
        "```yaml",
        json.dumps(pipeline, indent=2, default=str),
        "```",
        "",
        f"numpy {np.__version__}; rerun into this folder to resume: "
        f"`python -m loop output_dir={out}`.",
        "",
    ]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
