"""Robustness of the detector: scores of real and fake videos under perturbations.

Each perturbation of :mod:`loop.studies.perturbations` (downscaling, rotation, Gaussian
blur, Gaussian noise, JPEG, H.264 re-encoding) is applied at each of its strengths to
the decoded frames of every video, before face detection, the way a re-uploaded or
re-encoded video reaches a detector; the detector then scores the perturbed frames
(:meth:`fakedetect.scoring.VideoScorer.score_frames`). Frame-wise perturbations are
applied to the sampled frames only; codecs (the functions that take ``fps``) to the
whole video, which is then sampled at the same frames.

Per (perturbation, strength): the mean and median score of the real and of the fake
videos, and the video-level AUC, AP, EER and balanced accuracy
(:func:`fakedetect.metrics.detection_metrics`). The neutral strength of every
perturbation is the unperturbed video (scored once and shared).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from datamodules.video_io import UnreadableVideoError, open_video, sample_indices
from fakedetect.metrics import detection_metrics
from fakedetect.scoring import VideoScore, VideoScorer
from loop.studies.options import StudyOptions
from loop.studies.perturbations import perturb
from loop.studies.report import StudyReport, StudyResult, new_figure, short_number

log = logging.getLogger(__name__)

STUDY = "robustness"
# The unperturbed videos: a setting of their own, the baseline of every plot.
CLEAN = "none"
FALLBACK_FPS = 25.0
COLUMNS = [
    "video",
    "label",
    "perturbation",
    "strength_index",
    "strength",
    "score",
    "logit",
    "frames_scored",
    "frames_sampled",
    "path",
]
Perturbation = Callable[..., np.ndarray]


def normalize_perturbations(
    perturbations: Mapping[str, Any],
) -> dict[str, tuple[Perturbation, list[float]]]:
    """``{name: (function, strengths)}`` from config entries ``{fn: ..., strengths: [...]}``.

    Each function is tried at each strength on two small frames first, so a bad strength
    stops the study at once with the perturbation named, not after hours of scoring.

    Raises:
        InputError: no perturbation, an entry without a function or strengths, or a
            strength its function refuses.
    """
    if not perturbations:
        raise InputError("no perturbations given; list them under study.perturbations")
    probe = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    out = {}
    for name, entry in perturbations.items():
        if isinstance(entry, Mapping):
            fn, strengths = entry.get("fn"), entry.get("strengths")
        else:
            fn, strengths = entry
        if not callable(fn) or not strengths:
            raise InputError(
                f"study.perturbations.{name} needs fn (a function, e.g. _target_: "
                "loop.studies.perturbations.rotate with _partial_: true) and a list of strengths"
            )
        strengths = [float(s) for s in strengths]
        for strength in strengths:
            try:
                perturb(fn, probe, strength, FALLBACK_FPS)
            except (ValueError, TypeError) as error:
                raise InputError(
                    f"study.perturbations.{name}: strength {strength}: {error}"
                ) from error
        out[str(name)] = (fn, strengths)
    return out


def is_codec(fn: Perturbation) -> bool:
    """Codecs (functions taking ``fps``) need the whole video, not a frame sample."""
    return "fps" in inspect.signature(fn).parameters


def robustness_study(
    scorer: VideoScorer,
    options: StudyOptions,
    perturbations: Mapping[str, Any],
    labels_csv: str | os.PathLike | None = None,
    split: str | None = None,
    loggers: Sequence[Logger] = (),
) -> StudyResult:
    """Score every real and fake video under every perturbation and strength.

    Args:
        scorer: the detector (one model or an ensemble) with its face pipeline.
        options: what every study shares: the videos (a video index CSV or DataFrame with
            ``path``, ``label`` 0/1, optional ``video``, ``split``; or a folder of videos
            with a labels CSV), ``max_videos`` (this many real and this many fake, the
            first by id), ``max_frames`` (the codec perturbations re-encode the first this
            many frames, and sampling is over them; None: the whole video), the output
            folder. Frame fitting and batch size are the scorer's own.
        perturbations: ``{name: {"fn": function, "strengths": [...]}}`` (or
            ``(function, strengths)``), strengths listed from the neutral one (the clean
            baseline) to the strongest; ``conf/study/robustness.yaml`` holds the defaults.
        labels_csv: the labels CSV of a folder, when not ``ROOT/labels.csv``.
        split: keep only this split of the index (``test``); None keeps all rows.
        loggers: Lightning loggers for the per-setting numbers, tables and plots.

    Returns:
        The per-(video, perturbation, strength) table and the summary.

    Raises:
        InputError: no scorer, bad inputs or perturbations, or other settings than an
            earlier table's in ``output_dir``.
    """
    if scorer is None:
        raise InputError("the robustness study needs a detector: pass scorer.checkpoint=PATH")
    plan = normalize_perturbations(perturbations)
    table = options.labelled_video_table(labels_csv, split)
    parameters = {
        "perturbations": {
            name: {"fn": _describe(fn), "strengths": strengths}
            for name, (fn, strengths) in plan.items()
        },
        "split": split,
        "max_frames": options.max_frames,
        "frames_per_video": scorer.settings.frames_per_video,
        "face_policy": scorer.settings.policy,
        "face_size": scorer.settings.size,
        "models": scorer.model_names,
    }
    report = options.open_report(STUDY, parameters, COLUMNS, "video", ("video", "perturbation"))
    for row in options.pending(report, table):
        try:
            rows = _study_video(
                scorer, row["video"], row["path"], int(row["label"]), plan, options.max_frames
            )
        except (UnreadableVideoError, IndexError) as error:
            report.skip(row["video"], f"unreadable: {error}")
            continue
        report.add(rows)
    return _finish(report, plan, loggers)


def _describe(fn: Perturbation) -> str:
    target = getattr(fn, "func", fn)
    keywords = getattr(fn, "keywords", None)
    name = f"{target.__module__}.{target.__qualname__}"
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in keywords.items())})" if keywords else name


def _study_video(
    scorer: VideoScorer,
    video: str,
    path: str,
    label: int,
    plan: dict[str, tuple[Perturbation, list[float]]],
    max_frames: int | None,
) -> list[dict[str, Any]]:
    with open_video(path) as source:
        meta = source.meta
        count = min(meta.num_frames, max_frames) if max_frames else meta.num_frames
        indices = sample_indices(count, scorer.settings.frames_per_video)
        if not indices:
            raise UnreadableVideoError(path, "no frames")
        sampled = source.read(indices)
        whole = (
            source.read(list(range(count))) if any(is_codec(f) for f, _ in plan.values()) else None
        )
        fps = float(meta.fps or FALLBACK_FPS)
    clean = scorer.score_frames(sampled, indices)
    settings = [(CLEAN, 0, math.nan, clean)]
    for name, (fn, strengths) in plan.items():
        frames = whole if is_codec(fn) else sampled
        for position, strength in enumerate(strengths):
            changed = perturb(fn, frames, strength, fps)
            if changed is frames:
                result = clean
            else:
                result = scorer.score_frames(changed[indices] if is_codec(fn) else changed, indices)
            settings.append((name, position, strength, result))
    return [
        {
            "video": video,
            "label": label,
            "perturbation": name,
            "strength_index": position,
            "strength": strength,
            "score": result.score,
            "logit": _mean_logit(result),
            "frames_scored": result.frames_scored,
            "frames_sampled": result.frames_sampled,
            "path": path,
        }
        for name, position, strength, result in settings
    ]


def _mean_logit(result: VideoScore) -> float:
    logits = result.faces["logit"].to_numpy(dtype=np.float64)
    return float(logits.mean()) if len(logits) else math.nan


def _metrics(rows: pd.DataFrame) -> dict[str, float]:
    scored = rows[np.isfinite(rows["logit"].to_numpy(dtype=np.float64))]
    real = scored.loc[scored["label"] == 0, "score"]
    fake = scored.loc[scored["label"] == 1, "score"]
    metrics = detection_metrics(
        torch.tensor(scored["logit"].to_numpy(dtype=np.float32)),
        torch.tensor(scored["label"].to_numpy(dtype=np.float32)),
    )
    return {
        "videos_real": int((rows["label"] == 0).sum()),
        "videos_fake": int((rows["label"] == 1).sum()),
        "no_face": int(len(rows) - len(scored)),
        "score_real_mean": real.mean(),
        "score_real_median": real.median(),
        "score_real_q25": real.quantile(0.25),
        "score_real_q75": real.quantile(0.75),
        "score_fake_mean": fake.mean(),
        "score_fake_median": fake.median(),
        "score_fake_q25": fake.quantile(0.25),
        "score_fake_q75": fake.quantile(0.75),
        **{name: float(value) for name, value in metrics.items()},
    }


def _finish(
    report: StudyReport,
    plan: dict[str, tuple[Perturbation, list[float]]],
    loggers: Sequence[Logger],
) -> StudyResult:
    table = report.table
    if table.empty:
        raise InputError(
            f"robustness study: no video could be scored ({len(report.skipped)} skipped)"
        )
    for column in ("label", "strength_index", "strength", "score", "logit"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    rows = []
    for (name, position), group in table.groupby(["perturbation", "strength_index"], sort=False):
        rows.append(
            {
                "perturbation": name,
                "strength_index": int(position),
                "strength": group["strength"].iloc[0],
            }
            | _metrics(group)
        )
    by_setting = pd.DataFrame(rows)
    order = {name: number for number, name in enumerate([CLEAN, *plan])}
    by_setting = by_setting.sort_values(
        ["perturbation", "strength_index"],
        key=lambda c: c.map(order) if c.name == "perturbation" else c,
    ).reset_index(drop=True)

    results, reasons = {}, {}
    clean = by_setting[by_setting["perturbation"] == CLEAN].iloc[0]
    results["auc_clean"] = clean["auc"]
    results["score_real_clean"] = clean["score_real_mean"]
    results["score_fake_clean"] = clean["score_fake_mean"]
    for name, group in by_setting[by_setting["perturbation"] != CLEAN].groupby(
        "perturbation", sort=False
    ):
        strongest = group.iloc[-1]
        results[f"auc_{name}_strongest"] = strongest["auc"]
        results[f"auc_{name}_worst"] = group["auc"].min()
        results[f"score_fake_{name}_strongest"] = strongest["score_fake_mean"]
        results[f"score_real_{name}_strongest"] = strongest["score_real_mean"]
    one_class = "AUC needs real and fake videos with a face"
    for name in results:
        reasons[name] = one_class if "auc" in name else "no video of that label had a face"
    no_face = int(by_setting["no_face"].sum())
    if no_face:
        report.note(
            f"{no_face} (video, setting) scores had no face and are left out of the means "
            "and AUCs (column no_face of robustness_summary.csv)"
        )
    _plot(report, by_setting)
    return report.finish(by_setting, results, reasons, group_column="perturbation", loggers=loggers)


def _plot(report: StudyReport, by_setting: pd.DataFrame) -> None:
    clean = by_setting[by_setting["perturbation"] == CLEAN].iloc[0]
    groups = list(
        by_setting[by_setting["perturbation"] != CLEAN].groupby("perturbation", sort=False)
    )
    figure, axes = new_figure(len(groups))
    auc_figure, auc_axes = new_figure(len(groups))
    for (name, group), ax, auc_ax in zip(groups, axes, auc_axes, strict=True):
        x = np.arange(len(group))
        labels = [short_number(s) for s in group["strength"]]
        for kind, colour in (("real", "C0"), ("fake", "C3")):
            ax.plot(x, group[f"score_{kind}_mean"], "o-", color=colour, label=f"{kind} (mean)")
            ax.plot(x, group[f"score_{kind}_median"], "x:", color=colour, label=f"{kind} (median)")
            ax.fill_between(
                x, group[f"score_{kind}_q25"], group[f"score_{kind}_q75"], color=colour, alpha=0.15
            )
            ax.axhline(clean[f"score_{kind}_mean"], color=colour, lw=0.8, ls=":")
        ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("detector score (p fake)")
        auc_ax.plot(x, group["auc"], "o-", color="C2")
        auc_ax.axhline(clean["auc"], color="C2", lw=0.8, ls=":", label="unperturbed")
        auc_ax.axhline(0.5, color="0.6", lw=0.8, ls="--")
        auc_ax.set_ylim(-0.02, 1.02)
        auc_ax.set_ylabel("video AUC")
        for axis in (ax, auc_ax):
            axis.set_xticks(x, labels)
            axis.set_xlabel(f"{name} strength")
            axis.set_title(name, fontsize=9)
        ax.legend(fontsize=6)
    report.save_figure(f"{STUDY}_scores", figure)
    report.save_figure(f"{STUDY}_auc", auc_figure)
