"""Is this video fake? ``python -m fakedetect.predict videos=PATH checkpoint=PATH output=DIR``.

``videos`` is a video, a folder of videos or a video index CSV; ``checkpoint`` one of our
``.ckpt`` files or the paper's ``.pth`` weights (with ``architecture=...`` or inferred),
or a list of them (``checkpoint=[a.ckpt,b.pth]``): an ensemble that averages the logits.
The faces are extracted into ``DIR/faces`` (a rerun reuses them) by worker processes while
this process scores the videos already extracted. Written:

- ``DIR/videos.csv``: ``video, score, label, frames_scored`` (label ``fake`` when the score
  reaches ``threshold``, ``real`` below, ``no face`` / ``unreadable`` when nothing could be
  scored), then ``frames_sampled``, ``score_calibrated`` and ``calibrated``, one
  ``score_<model>`` per member and ``path``. ``score`` is always the raw sigmoid of the
  mean logit; where every member carries a calibration fitted on its validation split
  (:mod:`fakedetect.calibration_store`), ``score_calibrated`` is the calibrated
  probability, ``calibrated`` is true and ``label`` follows the calibrated score
  (``calibration=false`` ignores stored maps);
- ``DIR/frames.csv``: ``video, frame, face_rank, logit`` (the ensemble's) and one
  ``logit_<model>`` per member;
- with ``attention_video=true``, ``DIR/attention/<video>.mp4``: every scored face beside
  its attention heat map (attention models only).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from datamodules.command_errors import exit_on_user_error
from datamodules.extraction.crops import CropSettings
from datamodules.extraction.extract import VideoResult, extract_faces
from datamodules.extraction.log import ExtractionLog
from datamodules.face_crops import read_crop
from datamodules.plain import plain_container
from datamodules.video_list import list_videos
from fakedetect.calibration import Calibration, calibrated_video_score
from fakedetect.calibration_store import describe, read_calibration
from fakedetect.onnx_runtime import use_backend
from fakedetect.overlay import write_attention_video
from fakedetect.scoring import VideoScore, VideoScorer, checkpoint_specs, video_score

log = logging.getLogger(__name__)


def _read_crops(faces_dir: Path, rows: pd.DataFrame) -> list[np.ndarray]:
    crops = []
    for path in rows["path"]:
        image = read_crop(faces_dir / path)
        if image is None:
            raise FileNotFoundError(
                f"Face crop {faces_dir / path} is missing or unreadable; delete {faces_dir} "
                "to extract the faces again."
            )
        crops.append(image)
    return crops


def score_extracted(
    scorer: VideoScorer, faces_dir: Path, rows: pd.DataFrame, sampled: int
) -> VideoScore:
    """Score the saved crops of one video (its rows of ``faces.csv``)."""
    rows = rows[rows["face_rank"] < (scorer.settings.faces_per_frame or math.inf)]
    rows = rows.sort_values(["frame", "face_rank"])
    logits = scorer.score_crops(_read_crops(faces_dir, rows)) if len(rows) else None
    if logits is None:
        logits = np.zeros((0, len(scorer.models)), np.float32)
    table = scorer.faces_table(rows["frame"].tolist(), rows["face_rank"].tolist(), logits)
    return scorer.score_table(table, sampled)


def run_prediction(
    scorer: VideoScorer,
    videos: pd.DataFrame | str | os.PathLike,
    output: str | os.PathLike,
    threshold: float = 0.5,
    workers: int = 1,
    decode_threads: int = 1,
    attention_video: bool = False,
    attention_model: str | None = None,
    attention_fps: float = 4.0,
    root: str | os.PathLike | None = None,
    progress: bool = True,
    show_table: bool = True,
    calibrations: Mapping[str, Calibration | None] | None = None,
) -> pd.DataFrame:
    """Extract, score and tabulate videos; return the ``videos.csv`` table.

    Args:
        scorer: the networks and the face pipeline settings.
        videos: a video, a folder, an index CSV, or an index DataFrame.
        output: the output folder.
        threshold: score from which a video is labelled fake.
        workers: face-extraction processes (0: extract in this process, no overlap).
        decode_threads: FFmpeg decoder threads per extraction process (0: one per core).
        attention_video: write an attention-overlay mp4 per video.
        attention_model: which member draws the overlay (default: the first attention one).
        attention_fps: frame rate of the overlay videos.
        root: what relative paths of an index are relative to.
        progress: show the extraction progress bar.
        show_table: print the results table.
        calibrations: each member's calibration map (by model name); the calibrated
            score is reported where every member has one.
    """
    output = Path(output)
    faces_dir = output / "faces"
    table = list_videos(videos, root)
    scores: dict[str, VideoScore] = {}
    failures: dict[str, str] = {}

    def on_video(result: VideoResult) -> None:
        if result.status not in ("ok", "no_face"):
            failures[result.video] = result.message
            return
        rows = pd.DataFrame(result.rows, columns=["video", "frame", "path", "face_rank"])
        scores[result.video] = score_extracted(scorer, faces_dir, rows, result.frames_sampled)

    extract_faces(
        table,
        faces_dir,
        detector=scorer.detector_source,
        crop=scorer.settings,
        workers=workers,
        threads=1,  # extraction workers share the cores with the scoring here
        decode_threads=decode_threads,
        progress=progress,
        on_video=on_video,
    )
    status = ExtractionLog.read_status(faces_dir).set_index("video")
    earlier = [
        v for v in table["video"] if v not in scores and v not in failures and v in status.index
    ]
    if earlier:
        faces = ExtractionLog.read_faces(faces_dir)
        by_video = dict(tuple(faces[faces["video"].isin(earlier)].groupby("video")))
        for video in earlier:
            rows = by_video.get(video, faces.iloc[:0])
            scores[video] = score_extracted(
                scorer, faces_dir, rows, int(status.loc[video, "frames_sampled"])
            )
    videos_table, frames_table = _tables(
        scorer, table, scores, failures, threshold, calibrations or {}
    )
    output.mkdir(parents=True, exist_ok=True)
    videos_table.to_csv(output / "videos.csv", index=False)
    frames_table.to_csv(output / "frames.csv", index=False)
    if attention_video:
        _attention_videos(
            scorer, faces_dir, output / "attention", scores, attention_model, attention_fps
        )
    if show_table:
        print_results(videos_table, threshold)
    log.info("Wrote %s and %s", output / "videos.csv", output / "frames.csv")
    return videos_table


def _tables(
    scorer: VideoScorer,
    table: pd.DataFrame,
    scores: dict[str, VideoScore],
    failures: dict[str, str],
    threshold: float,
    calibrations: Mapping[str, Calibration | None],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, frames = [], []
    for video, path in zip(table["video"], table["path"], strict=True):
        result = scores.get(video)
        row: dict[str, Any] = {"video": video}
        if result is None:
            row.update(score=float("nan"), label="unreadable", frames_scored=0, frames_sampled=0)
            row.update(score_calibrated=float("nan"), calibrated=False)
        else:
            members = {n: result.faces[f"logit_{n}"].to_numpy() for n in scorer.model_names}
            calibrated = calibrated_video_score(members, calibrations)
            verdict = result.label(threshold)
            if not math.isnan(calibrated):
                verdict = "fake" if calibrated >= threshold else "real"
            row.update(
                score=result.score,
                label=verdict,
                frames_scored=result.frames_scored,
                frames_sampled=result.frames_sampled,
                score_calibrated=calibrated,
                calibrated=not math.isnan(calibrated),
            )
            for name in scorer.model_names:
                row[f"score_{name}"] = video_score(result.faces[f"logit_{name}"].to_numpy())
            if not result.faces.empty:
                frames.append(result.faces.assign(video=video))
        row["path"] = path
        row["message"] = failures.get(video, "")
        rows.append(row)
    frame_columns = ["video", "frame", "face_rank", "logit"] + [
        f"logit_{n}" for n in scorer.model_names
    ]
    frames_table = (
        pd.concat(frames, ignore_index=True)[frame_columns]
        if frames
        else pd.DataFrame(columns=frame_columns)
    )
    return pd.DataFrame(rows), frames_table


def _attention_videos(
    scorer: VideoScorer,
    faces_dir: Path,
    folder: Path,
    scores: dict[str, VideoScore],
    model: str | None,
    fps: float,
) -> None:
    faces = ExtractionLog.read_faces(faces_dir)
    written = 0
    for video, result in scores.items():
        if result.faces.empty:
            continue
        rows = faces[faces["video"] == video].merge(result.faces[["frame", "face_rank", "logit"]])
        rows = rows.sort_values(["frame", "face_rank"])
        crops = _read_crops(faces_dir, rows)
        try:
            maps = scorer.attention_maps(crops, model)
        except ValueError as error:
            log.warning("No attention videos: %s", error)
            return
        write_attention_video(
            folder / f"{video}.mp4",
            crops,
            maps,
            rows["frame"].tolist(),
            rows["logit"].tolist(),
            fps,
            scorer.settings.size,
        )
        written += 1
    log.info("Wrote %d attention videos to %s", written, folder)


def print_results(videos: pd.DataFrame, threshold: float) -> None:
    """Print the verdicts as a table: one line per video, also for those without a face."""
    calibrated = "calibrated" in videos and bool(videos["calibrated"].any())
    which = "calibrated score" if calibrated else "score"
    table = Table(title=f"Deepfake scores (fake when {which} >= {threshold})")
    columns = ("video", "score", "calibrated", "label", "frames scored")
    for column in columns if calibrated else [c for c in columns if c != "calibrated"]:
        table.add_column(column, justify="left" if column in ("video", "label") else "right")
    styles = {"fake": "bold red", "real": "green", "no face": "yellow", "unreadable": "magenta"}
    for row in videos.itertuples():
        score = "-" if math.isnan(row.score) else f"{row.score:.3f}"
        scored = f"{row.frames_scored}/{row.frames_sampled}"
        label = (
            row.label if row.label not in ("no face", "unreadable") else f"{row.label} (not scored)"
        )
        cells = [row.video, score, f"[{styles[row.label]}]{label}[/]", scored]
        if calibrated:
            value = row.score_calibrated
            cells.insert(2, "-" if math.isnan(value) else f"{value:.3f}")
        table.add_row(*cells)
    Console().print(table)
    counts = videos["label"].value_counts().to_dict()
    Console().print(", ".join(f"{count} {label}" for label, count in sorted(counts.items())))


def scoring_threads(workers: int) -> int:
    """Torch threads for the scoring process: the cores the extraction workers leave.

    Why: each extraction worker keeps one core busy; more OpenMP threads than free cores
    make the network wait at every barrier for a descheduled thread (on 2 cores shared
    with one worker, 2 threads ran EfficientNet 2.7x slower than 1).
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (available or 1) - max(workers, 0))


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m fakedetect.predict videos=PATH checkpoint=PATH output=DIR [...]``."""
    if not cfg.get("videos") or not cfg.get("output"):
        raise ValueError("Give videos=PATH (a video, a folder or an index CSV) and output=DIR.")
    torch.set_num_threads(cfg.threads or scoring_threads(cfg.workers))
    videos = list_videos(cfg.videos, cfg.root)  # fail on a bad path before loading the models
    checkpoint = plain_container(cfg.checkpoint)
    detector: Mapping[str, Any] = plain_container(cfg.detector)
    scorer = VideoScorer.from_checkpoints(
        checkpoint,
        architecture=cfg.architecture,
        trust_checkpoint=cfg.trust_checkpoint,
        detector=detector,
        crop=CropSettings.split_options(cfg)[0],
        device=cfg.device,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        batch_size=cfg.batch_size,
    )
    calibrations = {}
    if cfg.get("calibration", True):
        for spec in checkpoint_specs(checkpoint, cfg.architecture):
            calibrations[spec["name"]] = read_calibration(spec["path"], cfg.trust_checkpoint)
            log.info("%s: calibration %s", spec["name"], describe(calibrations[spec["name"]]))
    use_backend(scorer, cfg.backend, cfg.precision)
    run_prediction(
        scorer,
        videos,
        cfg.output,
        calibrations=calibrations,
        threshold=cfg.threshold,
        workers=cfg.workers,
        decode_threads=cfg.decode_threads,
        attention_video=cfg.attention_video,
        attention_model=cfg.attention_model,
        attention_fps=cfg.attention_fps,
        root=cfg.root,
        progress=cfg.progress,
    )


if __name__ == "__main__":
    main()
