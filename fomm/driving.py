"""The driving video of an animation: its frames as the model sees them, and its reference frame.

:func:`load_driving_frames` reads the video face-cropped (:mod:`fomm.crop`) or fitted to
the model's square (:mod:`fomm.media`); :func:`search_best_frame` finds the frame whose
face pose is closest to the source's, the official demo's ``--find_best_frame``, from
which the motion is then measured (:mod:`fomm.animate`).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
from tqdm.auto import tqdm

from datamodules.command_errors import InputError
from datamodules.face_detection import FaceDetector
from fomm.crop import crop_frames, face_crop_boxes
from fomm.landmarks import detect_landmarks, find_best_frame, pose_distances
from fomm.media import fit_frames, iter_chunks, open_input_video, video_fps, warn_if_not_square


def load_driving_frames(
    path: str | os.PathLike,
    size: int,
    fit: str,
    crop: bool,
    detector: FaceDetector | None,
    crop_margin: float,
    crop_mode: str,
    chunk_size: int,
    progress: bool,
) -> tuple[np.ndarray, Fraction, tuple[int, int, int] | None]:
    """Read a driving video as ``(T, size, size, 3)`` uint8, face-cropped or fitted.

    Returns:
        Frames, exact frame rate, and the crop box of the first frame (when cropping).
    """
    with open_input_video(path) as source:
        fps = video_fps(source)
        meta = source.meta
        boxes = None
        if crop:
            boxes, _, _ = face_crop_boxes(
                source, detector, margin=crop_margin, mode=crop_mode, progress=progress
            )
        else:
            warn_if_not_square((meta.height, meta.width), str(source.path), fit)
        frames = np.empty((meta.num_frames, size, size, 3), dtype=np.uint8)
        with tqdm(
            total=meta.num_frames, desc="reading driving video", unit="frame", disable=not progress
        ) as bar:
            for indices, chunk in iter_chunks(source, chunk_size):
                if boxes is not None:
                    frames[indices.start : indices.stop] = crop_frames(
                        chunk, boxes[indices.start : indices.stop], size
                    )
                else:
                    frames[indices.start : indices.stop] = fit_frames(chunk, size, fit)
                bar.update(len(indices))
    box = tuple(int(v) for v in boxes[0]) if boxes is not None else None
    return frames, fps, box


def search_best_frame(
    source: np.ndarray,
    driving: np.ndarray,
    detector: FaceDetector,
    source_name: str = "source image",
    driving_name: str = "driving video",
    progress: bool = False,
) -> tuple[int, np.ndarray]:
    """The driving frame whose face pose is closest to the source's, and every distance.

    Args:
        source: ``(H, W, 3)`` uint8 source, as the model sees it.
        driving: ``(T, H, W, 3)`` uint8 driving frames, as the model sees them.
        detector: an MTCNN detector (landmarks are needed).
        source_name: for messages.
        driving_name: for messages.
        progress: show a progress bar.

    Raises:
        InputError: no face in the source or in any driving frame.
    """
    try:
        source_points = detect_landmarks(detector, source[None])[0]
        driving_points = detect_landmarks(detector, driving, progress=progress)
    except ValueError as error:
        raise InputError(f"find_best_frame: {error}") from error
    try:
        best = find_best_frame(source_points, driving_points)
    except ValueError as error:
        where = source_name if "source" in str(error) else driving_name
        raise InputError(
            f"find_best_frame found no face in {where}; animate without find_best_frame "
            "(or set best_frame=N)"
        ) from error
    return best, pose_distances(source_points, driving_points)
