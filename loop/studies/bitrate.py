"""Driving-video quality: how the bitrate of the driving video changes FOMM's output.

For each driving video and bitrate the video is re-encoded with libx264 at that bitrate
(:func:`datamodules.video_writer.write_video`, audio kept), decoded again, and used to
animate frame 0 of the *original* video:

- reconstruction L1 against the original frames (absolute keypoints, the paper's
  protocol; optionally relative motion too), so the compression damage counts;
- keypoint jitter: the high-frequency part of the driving keypoint trajectories
  (:func:`keypoint_jitter`), beside the original video's, and the keypoints' mean
  distance from where the original video puts them (``kp_error``);
- the deepfake detector's score of the animated output (and of the re-encoded driving
  video), when a scorer is given;
- the file size and the bitrate actually spent on the video stream.

The original file itself is the ``original`` setting, the baseline of every plot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import NullFormatter
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from datamodules.extraction.crops import sample_indices
from datamodules.video_writer import write_video
from fakedetect.scoring import VideoScorer
from fomm.media import fit_frames
from fomm.reconstruction import reconstruct
from loop.studies.inputs import eval_mode, read_model_frames, to_tensor, to_uint8
from loop.studies.measures import keypoint_jitter, keypoint_speed, psnr, video_stream_bitrate
from loop.studies.options import StudyOptions
from loop.studies.report import (
    StudyReport,
    StudyResult,
    correlations,
    new_figure,
    short_number,
)

log = logging.getLogger(__name__)

STUDY = "bitrate"
# libx264 refuses rate targets below 1 kbit/s.
MIN_BITRATE = 1000
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
COLUMNS = [
    "video",
    "setting",
    "nominal_bitrate",
    "target_bitrate",
    *MEASURES,
    "frames",
    "fps",
    "width",
    "height",
    "path",
]


def setting_name(bitrate: float) -> str:
    """110000 -> ``110k``, 1000000 -> ``1M``, 2500 -> ``2.5k``."""
    return short_number(bitrate)


def _file_name(video: str) -> str:
    return video.replace("/", "__").replace("\\", "__")


def bitrate_study(
    networks: torch.nn.Module,
    options: StudyOptions,
    bitrates: Sequence[float] = (110_000, 1_000_000, 8_000_000),
    bitrate_scale: float = 1.0,
    scorer: VideoScorer | None = None,
    relative: bool = False,
    jitter_sigma: float = 2.0,
    encoder_preset: str = "medium",
    keep_reencoded: bool = True,
    save_videos: bool = True,
    loggers: Sequence[Logger] = (),
) -> StudyResult:
    """Re-encode driving videos at several bitrates and measure FOMM's output for each.

    Args:
        networks: an FOMM model (``.kp_detector``, ``.generator``); put in eval mode for
            the study and restored after.
        options: the driving videos, frame reading and output folder every study shares.
        bitrates: nominal bitrates in bit/s (the issue's 110k, 1M, 8M).
        bitrate_scale: multiplies every nominal bitrate; small frames need far fewer bits
            (at 64x64 px libx264 cannot spend more than about 190 kbit/s, so 0.01 gives
            1.1k/10k/80k, a low/mid/high spread; see docs/loop.md).
        scorer: a deepfake detector to score the animated outputs; None leaves the
            detector columns NaN.
        relative: also animate with relative motion (``l1_relative``).
        jitter_sigma: Gaussian smoothing (frames) that defines keypoint jitter.
        encoder_preset: libx264 preset of the re-encodes.
        keep_reencoded: keep ``reencoded/<video>_<setting>.mp4``.
        save_videos: write ``videos/<video>_<setting>.mp4``: original | driving | output.
        loggers: Lightning loggers for the per-setting numbers, tables and plots.

    Returns:
        The per-(video, setting) table and the summary (also in ``summary.json``).

    Raises:
        InputError: no videos, a bitrate libx264 cannot take, or settings that differ from
            an earlier table in ``output_dir``.
    """
    targets = sorted({int(round(b * bitrate_scale)): b for b in bitrates}.items())
    too_low = [t for t, _ in targets if t < MIN_BITRATE]
    if too_low:
        raise InputError(
            f"bitrates x bitrate_scale give {too_low} bit/s; libx264 needs at least "
            f"{MIN_BITRATE}: raise study.bitrate_scale or the bitrates"
        )
    table = options.video_table()
    side = options.frame_side(networks, table)
    parameters = {
        "bitrates": [b for _, b in targets],
        "bitrate_scale": bitrate_scale,
        "relative": relative,
        "max_frames": options.max_frames,
        "size": side,
        "fit": options.fit,
        "jitter_sigma": jitter_sigma,
        "encoder_preset": encoder_preset,
        "scored": scorer is not None,
    }
    report = options.open_report(STUDY, parameters, COLUMNS, "video", ("video", "setting"))
    settings = _Settings(
        targets,
        side,
        options,
        relative,
        jitter_sigma,
        encoder_preset,
        keep_reencoded,
        save_videos,
        report.output_dir,
    )
    with eval_mode(networks):
        for row in options.pending(report, table):
            try:
                rows = _study_video(networks, row["video"], row["path"], scorer, settings)
            except InputError as error:
                report.skip(row["video"], str(error))
                continue
            report.add(rows)
    return _finish(report, scorer, loggers)


@dataclass(frozen=True)
class _Settings:
    targets: list[tuple[int, float]]
    side: int
    options: StudyOptions
    relative: bool
    jitter_sigma: float
    preset: str
    keep_reencoded: bool
    save_videos: bool
    output_dir: Path


def _study_video(
    networks: torch.nn.Module,
    video: str,
    path: str,
    scorer: VideoScorer | None,
    settings: _Settings,
) -> list[dict]:
    """Every setting of one video, the original first."""
    native = settings.options.read_frames(path, None)
    original = fit_frames(native.frames, settings.side, settings.options.fit)
    fps = float(native.fps)
    count = len(original)
    reference = to_tensor(original)
    source = reference[0]
    base = {"video": video, "fps": fps, "width": native.width, "height": native.height}
    base_kp, base_l1 = None, None
    rows = []
    variants = [("original", math.nan, math.nan, Path(path))] + [
        (setting_name(target), target, nominal, None) for target, nominal in settings.targets
    ]
    for name, target, nominal, file in variants:
        if file is None:
            folder = settings.output_dir / "reencoded"
            file = folder / f"{_file_name(video)}_{name}.mp4"
            write_video(
                file,
                native.frames,
                native.fps,
                bitrate=target,
                audio_from=path if Path(path).is_file() else None,
                preset=settings.preset,
                threads=1,
            )
            driving = read_model_frames(file, settings.side, settings.options.fit).frames
        else:
            driving = original
        file_bytes = file.stat().st_size if file.is_file() else math.nan
        actual = video_stream_bitrate(file, len(driving), fps)
        if len(driving) != count:
            raise InputError(
                f"{file}: {len(driving)} frames decoded, {count} written; the re-encode lost "
                "frames (check the FFmpeg build)"
            )
        driving_t = to_tensor(driving)
        squared = float(((driving_t - reference) ** 2).mean())
        result = reconstruct(
            networks, driving_t, source=source, batch_size=settings.options.batch_size
        )
        l1 = float((result.prediction - reference).abs().mean())
        base_l1 = l1 if base_l1 is None else base_l1
        l1_relative = math.nan
        if settings.relative:
            moved = reconstruct(
                networks,
                driving_t,
                source=source,
                batch_size=settings.options.batch_size,
                relative=True,
            )
            l1_relative = float((moved.prediction - reference).abs().mean())
        trajectory = result.kp_driving
        base_kp = trajectory if base_kp is None else base_kp
        animated = to_uint8(result.prediction)
        scores = _scores(scorer, animated, driving)
        if settings.save_videos:
            panels = np.concatenate([original, driving, animated], axis=2)
            write_video(
                settings.output_dir / "videos" / f"{_file_name(video)}_{name}.mp4",
                panels,
                native.fps,
            )
        rows.append(
            base
            | {
                "setting": name,
                "nominal_bitrate": nominal,
                "target_bitrate": target,
                "actual_bitrate": actual,
                "file_bytes": file_bytes,
                "frames": len(driving),
                "driving_mae": float((driving_t - reference).abs().mean()),
                "driving_psnr": psnr(squared),
                "l1": l1,
                "l1_delta": l1 - base_l1,
                "l1_relative": l1_relative,
                "kp_jitter": keypoint_jitter(trajectory, settings.jitter_sigma, settings.side),
                "kp_speed": keypoint_speed(trajectory, settings.side),
                "kp_error": float(
                    np.linalg.norm(trajectory - base_kp, axis=-1).mean() * settings.side / 2
                ),
                "detector_score": scores[0],
                "detector_score_driving": scores[1],
                "path": str(file) if settings.keep_reencoded or name == "original" else "",
            }
        )
        if not settings.keep_reencoded and name != "original":
            file.unlink(missing_ok=True)
    return rows


def _scores(
    scorer: VideoScorer | None, animated: np.ndarray, driving: np.ndarray
) -> tuple[float, float]:
    """Detector scores of the animated frames and of the driving frames (NaN without one)."""
    if scorer is None:
        return math.nan, math.nan
    indices = sample_indices(len(animated), scorer.settings.frames_per_video)
    return (
        scorer.score_frames(animated[indices], indices).score,
        scorer.score_frames(driving[indices], indices).score,
    )


def _finish(
    report: StudyReport, scorer: VideoScorer | None, loggers: Sequence[Logger]
) -> StudyResult:
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
