"""Self-blended copies of a dataset's real videos: a test set of pseudo-fakes in video form.

The loop's cross-dataset table scores each detector on the FOMM test videos and on a
second kind of fake: the same held-out real videos, every frame self-blended (the
pseudo-fakes the self-blended detector trains on, :class:`fakedetect.self_blend.SelfBlend`).
Written as videos in the detectors' layout (``labels.csv`` beside ``fake/<split>/*.mp4``,
the reals pointing at the dataset's own files), they go through exactly the decoding,
face cropping and scoring of every other test set, with the H.264 settings the FOMM fakes
were written with, and any video-level evaluation (``fakedetect.crosseval``) reads them.

Each frame is blended on its own, seeded by ``seed`` and the video's id, so a rerun
writes the same videos. A frame's five landmarks come from ``landmarks_csv`` when given
(the embedded dataset's ground truth, matched by file name) and from the blender's
landmark detector otherwise; frames without landmarks are left out of the fake (counted),
and a video with none is skipped and named.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.face_landmarks import read_known_landmarks
from datamodules.video_io import probe_video, read_video
from datamodules.video_writer import write_video

log = logging.getLogger(__name__)

METHOD = "self_blended"
LABELS_FILE = "labels.csv"


def _frame_landmarks(
    frames: np.ndarray, known: np.ndarray | None, blender: Any
) -> list[np.ndarray | None]:
    """Five (or 68) points per frame in pixels, or None where there are none."""
    height, width = frames.shape[1:3]
    if known is not None:
        points: list[np.ndarray | None] = []
        for index in range(len(frames)):
            if index >= len(known) or np.isnan(known[index]).any():
                points.append(None)
            else:
                points.append(known[index] * np.array([width, height], dtype=np.float32))
        return points
    detector = getattr(blender, "landmarks", None)
    if detector is None:
        return [None] * len(frames)
    return list(detector(list(frames)))


def _blend_video(
    frames: np.ndarray, points: Sequence[np.ndarray | None], blender: Any, rng: np.random.Generator
) -> np.ndarray:
    """The self-blended frames of one video (frames without landmarks or a mask left out)."""
    blended = []
    for frame, landmarks in zip(frames, points, strict=True):
        if landmarks is None:
            continue
        try:
            blended.append(blender(np.ascontiguousarray(frame), landmarks, rng).fake)
        except ValueError as error:  # landmarks outside the frame: no mask
            log.debug("no self-blend mask for a frame: %s", error)
    return np.stack(blended) if blended else np.zeros((0, *frames.shape[1:]), np.uint8)


def write_self_blended_videos(
    labels_csv: str | os.PathLike,
    output: str | os.PathLike,
    blender: Any,
    splits: Sequence[str] = ("val", "test"),
    landmarks_csv: str | os.PathLike | None = None,
    max_frames: int | None = None,
    crf: int = 18,
    seed: int = 0,
) -> Path:
    """Write a self-blended copy of every real video of ``splits`` and its ``labels.csv``.

    Finished when ``labels.csv`` exists (it is written last): a rerun reuses it.

    Args:
        labels_csv: the source dataset's video index (``video, path, label, split``;
            paths relative to its folder), e.g. the loop's ``fakes/labels.csv``.
        output: the folder for ``fake/<split>/<name>.mp4`` and ``labels.csv``.
        blender: a :class:`fakedetect.self_blend.SelfBlend` (the one the detector trained with).
        splits: the splits whose real videos are copied (the reals stay in the index).
        landmarks_csv: known landmarks per frame (fractions), matched by file name.
        max_frames: the first this many frames of each video (None: all).
        crf: libx264 quality, as the source dataset's videos were written.
        seed: the blends' seed.

    Returns:
        The written ``labels.csv``: the reals (paths to the source's files, relative to
        ``output``) and their self-blended copies (``method`` ``self_blended``,
        ``original`` the real video's id).

    Raises:
        ValueError: the source has no real video in ``splits``, or none could be blended.
    """
    labels_csv, output = Path(labels_csv), Path(output)
    target = output / LABELS_FILE
    if target.is_file():
        return target
    labels = pd.read_csv(labels_csv, dtype={"video": str}, keep_default_na=False)
    reals = labels[(labels["label"] == 0) & labels["split"].isin(list(splits))]
    if reals.empty:
        raise ValueError(
            f"{labels_csv} has no real video in the split(s) {', '.join(splits)} to self-blend."
        )
    known = read_known_landmarks(landmarks_csv) if landmarks_csv else None
    rows, skipped, frames_left_out = [], [], 0
    for real in reals.itertuples(index=False):
        source = labels_csv.parent / real.path
        frames = read_video(source, stop=max_frames)
        stem = Path(str(real.path)).stem
        points = _frame_landmarks(frames, None if known is None else known.get(stem), blender)
        rng = np.random.default_rng([seed, zlib.crc32(str(real.video).encode())])
        fake = _blend_video(frames, points, blender, rng)
        frames_left_out += len(frames) - len(fake)
        real_row = {**real._asdict(), "path": os.path.relpath(source, output), "method": ""}
        rows.append(real_row)
        if not len(fake):
            skipped.append(str(real.video))
            continue
        path = Path("fake") / str(real.split) / f"{stem}.mp4"
        write_video(output / path, fake, probe_video(source).fps or 25, crf=crf, threads=1)
        video = f"fake/{real.split}/{stem}"
        rows.append({**real_row, "video": video, "path": path.as_posix(), "label": 1})
        rows[-1].update(method=METHOD, original=str(real.video))
    if skipped:
        log.warning(
            "%d real videos have no frame with landmarks and got no self-blended copy: %s",
            len(skipped),
            ", ".join(skipped[:5]),
        )
    if frames_left_out:
        log.warning("%d frames without landmarks were left out of the copies", frames_left_out)
    table = pd.DataFrame(rows)
    if not (table["label"] == 1).any():
        raise ValueError(
            f"None of the {len(reals)} real videos of {labels_csv} could be self-blended: no "
            "frame has landmarks (give landmarks_csv, or videos the face detector finds)."
        )
    output.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{LABELS_FILE}.tmp")
    table.to_csv(temporary, index=False)
    temporary.replace(target)
    return target
