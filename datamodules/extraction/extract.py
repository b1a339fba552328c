"""Face extraction: sample frames of every video, detect faces, save crops, write ``faces.csv``.

``python -m datamodules.extraction videos=PATH output=DIR`` takes a video, a folder of videos
(searched recursively) or a video index CSV. For each video it reads ``frames_per_video``
evenly spaced frames by seeking, finds faces (MTCNN by default, ``detector=haar`` for
OpenCV's cascade), keeps the most confident ``faces_per_frame`` faces of each frame, crops
them by the paper's ``scale`` or ``tight`` policy (:mod:`datamodules.extraction.crops`) and
saves them as JPEG (quality 95, 4:4:4 chroma as the official code does).

Output folder:

- ``faces.csv``: ``video, frame, path, left, top, right, bottom, confidence, face_rank``
  (``path`` relative to DIR; the box is the detector's, in full-frame pixels;
  ``face_rank`` 0 is the most confident face of the frame), then ``landmark0_x ...
  landmark4_y``: the face's five landmarks in crop pixels (:mod:`datamodules.face_landmarks`),
  MTCNN's, or those of ``landmarks_csv`` for detectors without landmarks; empty otherwise.
- ``videos.csv``: one row per processed video (``status`` ``ok``, ``no_face`` or
  ``unreadable``, with counts and the reason); a video is finished once its row is here.
- ``summary.json``: the totals of the last run; ``extract_config.json``: crop settings.
- ``crops/<video>/<frame>_<rank>.jpg``.

Videos run in parallel worker processes (each builds its detector once); only the parent
writes the tables, and it writes a video's face rows before its status row, so a killed
run resumes where it stopped: finished videos are skipped and a half-done one is redone
from scratch. Unreadable videos are retried on the next run (fix the file, rerun).

Across machines: ``shard=i num_shards=n`` extracts the videos whose id hashes to ``i``
into the same folder, with its own tables (``faces_shard<i>of<n>.csv`` ...), each shard
resumable on its own; ``merge=true`` then writes the tables one process would have
written (:mod:`datamodules.extraction.shards`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from datamodules.extraction.crop_landmarks import face_landmarks_in_crop
from datamodules.extraction.crops import CropSettings, faces_of_video, jpeg_params
from datamodules.extraction.log import ExtractionLog
from datamodules.face_detection import FaceDetector, MTCNNDetector
from datamodules.face_landmarks import landmark_columns, read_known_landmarks
from datamodules.shards import Shard
from datamodules.video_io import UnreadableVideoError
from datamodules.video_list import list_videos

log = logging.getLogger(__name__)


def _save_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), jpeg_params(quality)):
        raise OSError(f"could not write {path}")


@dataclass
class VideoResult:
    """What one video's extraction produced, for the tables and the summary."""

    video: str
    path: str
    status: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    frames_sampled: int = 0
    frames_with_face: int = 0
    num_frames: int = 0
    height: int = 0
    width: int = 0
    message: str = ""

    def status_row(self) -> dict[str, Any]:
        """The row of ``videos.csv``."""
        return {
            "video": self.video,
            "path": self.path,
            "status": self.status,
            "faces": len(self.rows),
            "frames_sampled": self.frames_sampled,
            "frames_with_face": self.frames_with_face,
            "num_frames": self.num_frames,
            "height": self.height,
            "width": self.width,
            "message": self.message,
        }


def process_video(
    video: str,
    path: str,
    output_dir: Path,
    detector: FaceDetector,
    settings: CropSettings,
    jpeg_quality: int = 95,
    decode_threads: int = 1,
    known_landmarks: np.ndarray | None = None,
) -> VideoResult:
    """Extract one video into ``output_dir/crops/<video>/`` and describe the result.

    A video that cannot be decoded is ``unreadable``; any other failure on it is
    ``error`` with the exception in the message: one bad file must not stop a long run.
    ``known_landmarks`` (``(frames, 5, 2)`` fractions of the frame size, NaN where
    unknown) stand in for the landmarks of a detector that gives none.
    """
    try:
        return _process_video(
            video, path, output_dir, detector, settings, jpeg_quality, decode_threads,
            known_landmarks,
        )  # fmt: skip
    except (UnreadableVideoError, IndexError) as error:
        return VideoResult(video, path, "unreadable", message=str(error))
    except Exception as error:  # noqa: BLE001 - recorded, listed at the end, retried next run
        log.exception("Extraction failed on %s", path)
        return VideoResult(video, path, "error", message=f"{type(error).__name__}: {error}")


def _process_video(
    video: str,
    path: str,
    output_dir: Path,
    detector: FaceDetector,
    settings: CropSettings,
    jpeg_quality: int,
    decode_threads: int,
    known_landmarks: np.ndarray | None = None,
) -> VideoResult:
    found = faces_of_video(path, detector, settings, decode_threads)
    crop_dir = output_dir / "crops" / video
    if crop_dir.exists():
        shutil.rmtree(crop_dir)  # leftovers of a killed run: redo the video cleanly
    if any(found.faces):
        crop_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for frame, faces, crops in zip(found.frames, found.faces, found.crops, strict=True):
        for rank, (face, crop) in enumerate(zip(faces, crops, strict=True)):
            crop_path = crop_dir / f"{frame:06d}_{rank}.jpg"
            _save_jpeg(crop_path, crop, jpeg_quality)
            left, top, right, bottom = face.box
            rows.append(
                {
                    "video": video,
                    "frame": frame,
                    "path": crop_path.relative_to(output_dir).as_posix(),
                    "left": round(left, 1),
                    "top": round(top, 1),
                    "right": round(right, 1),
                    "bottom": round(bottom, 1),
                    "confidence": round(face.confidence, 5),
                    "face_rank": rank,
                    **landmark_columns(
                        face_landmarks_in_crop(
                            face, frame, known_landmarks, found.frame_size, settings
                        )
                    ),
                }
            )
    status = "ok" if rows else "no_face"
    message = "" if rows else f"no face in {len(found.frames)} sampled frames"
    return VideoResult(
        video,
        path,
        status,
        rows,
        frames_sampled=len(found.frames),
        frames_with_face=found.frames_with_face,
        num_frames=found.num_frames,
        height=found.frame_size[0],
        width=found.frame_size[1],
        message=message,
    )


def build_detector(detector: FaceDetector | Mapping[str, Any] | None) -> FaceDetector:
    """A detector from an instance, a Hydra config with ``_target_``, or None (MTCNN)."""
    if detector is None:
        return MTCNNDetector(device="auto")
    if isinstance(detector, FaceDetector):
        return detector
    if isinstance(detector, Mapping | DictConfig) and "_target_" in detector:
        return hydra.utils.instantiate(detector)
    raise TypeError(
        f"detector must be a FaceDetector, a config with _target_, or null; got {detector!r}"
    )


_worker_state: dict[str, Any] = {}


def _init_worker(detector: Any, threads: int | None, options: dict[str, Any]) -> None:
    if threads:
        torch.set_num_threads(threads)
    _worker_state["detector"] = build_detector(detector)
    _worker_state["options"] = options


def _run_in_worker(video: str, path: str, known: np.ndarray | None) -> VideoResult:
    return process_video(
        video,
        path,
        detector=_worker_state["detector"],
        known_landmarks=known,
        **_worker_state["options"],
    )


def _run_jobs(
    jobs: list[tuple[str, str, np.ndarray | None]],
    detector: FaceDetector | Mapping[str, Any] | None,
    workers: int,
    threads: int | None,
    options: dict[str, Any],
) -> Iterator[VideoResult]:
    if not jobs:
        return
    if workers <= 0:
        built = build_detector(detector)
        for video, path, known in jobs:
            yield process_video(video, path, detector=built, known_landmarks=known, **options)
        return
    if isinstance(detector, DictConfig):
        detector = OmegaConf.to_container(detector, resolve=True)
    worker_threads = threads or (1 if workers > 1 else None)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),  # fork after torch has threads can deadlock
        initializer=_init_worker,
        initargs=(detector, worker_threads, options),
    ) as pool:
        pending: set[Future] = set()
        queue = iter(jobs)
        for job in queue:
            pending.add(pool.submit(_run_in_worker, *job))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                next_job = next(queue, None)
                if next_job is not None:
                    pending.add(pool.submit(_run_in_worker, *next_job))
                yield future.result()


def extract_faces(
    videos: pd.DataFrame | str | os.PathLike,
    output_dir: str | os.PathLike,
    detector: FaceDetector | Mapping[str, Any] | None = None,
    crop: CropSettings | None = None,
    jpeg_quality: int = 95,
    workers: int = 2,
    threads: int | None = None,
    decode_threads: int = 1,
    root: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_video: Callable[[VideoResult], None] | None = None,
    shard: int = 0,
    num_shards: int = 1,
    landmarks_csv: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Extract the faces of many videos into ``output_dir`` (resumable) and return ``faces.csv``.

    Args:
        videos: a video index DataFrame (``path`` and optionally ``video``), or a path
            to a video, a folder of videos (recursive) or an index CSV.
        output_dir: the extraction folder (see the module docstring for its layout).
        detector: a :class:`~datamodules.face_detection.FaceDetector`, a config with
            ``_target_`` (built once per worker), or None for MTCNN.
        crop: frames per video, crop policy, size, margin and faces per frame (the
            paper's 32 frames, ``scale``, 224 px, 0.2, 1 by default).
        jpeg_quality: JPEG quality of the crops.
        workers: worker processes (0: run in this process).
        threads: torch threads per worker (default 1 when several workers run).
        decode_threads: FFmpeg decoder threads per video.
        root: folder that relative paths of an index are relative to (default: the
            index CSV's folder, or the working directory for a DataFrame).
        overwrite: start over, deleting the tables of an earlier extraction.
        progress: show a progress bar.
        on_video: called in this process with each video's result once it is recorded
            on disk, while the workers go on with the next videos (prediction scores
            a video there, overlapping the network with decoding and detection).
        shard: which part of the videos to extract, ``0 .. num_shards - 1``.
        num_shards: parts the videos are split into by a hash of their id
            (:mod:`datamodules.shards`); each part writes its own tables
            (``faces_shard<i>of<n>.csv`` ...), joined by :func:`merge_extraction`.
        landmarks_csv: five landmarks known per frame (e.g. the embedded dataset's
            ``landmarks.csv``, see :func:`datamodules.face_landmarks.read_known_landmarks`),
            matched on the video file's name; stored for faces whose detector gives none
            (the whole-frame detector) when they lie inside the face box.

    Returns:
        The faces table of every finished video of the folder, or of the shard (this
        run and earlier ones).
    """
    settings = crop or CropSettings()
    output_dir = Path(output_dir)
    part = Shard(shard, num_shards)
    table = list_videos(videos, root)
    if part.sharded:
        log.info("%s: %d of %d videos", part, sum(part.select(table["video"])), len(table))
        table = table[part.select(table["video"])]
    record = ExtractionLog(output_dir, settings.__dict__, overwrite=overwrite, shard=part)
    todo = table[~table["video"].isin(record.finished)]
    record.start_run(total=len(table), already_done=len(table) - len(todo))
    options = {
        "output_dir": output_dir,
        "settings": settings,
        "jpeg_quality": jpeg_quality,
        "decode_threads": decode_threads,
    }
    known = read_known_landmarks(landmarks_csv) if landmarks_csv is not None else {}
    jobs = [
        (video, path, known.get(Path(path).stem))
        for video, path in zip(todo["video"], todo["path"], strict=True)
    ]
    bar = tqdm(total=len(jobs), desc="Extracting faces", unit="video", disable=not progress)
    try:
        for result in _run_jobs(jobs, detector, workers, threads, options):
            record.add(result)
            bar.update()
            bar.set_postfix(faces=record.run_faces, no_face=len(record.run_no_face))
            if on_video is not None:
                on_video(result)
    finally:
        bar.close()
        record.finish_run()
    return ExtractionLog.read_faces(output_dir, part)
