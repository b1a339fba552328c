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
import torch
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from datamodules.video_io import sample_indices
from datamodules.video_writer import write_video
from fakedetect.scoring import VideoScorer
from fomm.media import fit_frames
from fomm.reconstruction import reconstruct
from loop.studies.bitrate_summary import MEASURES, STUDY, finish_bitrate_study, setting_name
from loop.studies.inputs import eval_mode, read_model_frames, to_tensor, to_uint8
from loop.studies.measures import keypoint_jitter, keypoint_speed, psnr, video_stream_bitrate
from loop.studies.options import StudyOptions
from loop.studies.report import (
    StudyResult,
)

log = logging.getLogger(__name__)

# libx264 refuses rate targets below 1 kbit/s.
MIN_BITRATE = 1000
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
            1.1k/10k/80k, a low/mid/high spread; see docs/loop_results.md).
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
    return finish_bitrate_study(report, scorer, loggers)


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
