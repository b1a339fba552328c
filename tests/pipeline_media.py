"""Synthetic media for the extraction and prediction tests: frames and videos with drawn faces.

The faces are drawn realistically enough (skin oval, hair, brows, eyes with irises,
nose, lips) that both MTCNN and OpenCV's Haar cascade find them, so the tests run the
real detectors rather than a stand-in.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datamodules.video_writer import write_video

BACKGROUND = (90, 120, 160)


def draw_face(
    frame: np.ndarray,
    center: tuple[int, int],
    size: int,
    skin: tuple[int, int, int] = (205, 165, 140),
) -> tuple[int, int, int, int]:
    """Draw a frontal face in place; return its skin box (left, top, right, bottom).

    ``size`` is about half the face width; the face oval is 1.1 size wide, 1.44 tall.
    """
    cx, cy = center
    s = size
    cv2.ellipse(
        frame, (cx, cy - int(0.25 * s)), (int(0.62 * s), int(0.75 * s)), 0, 0, 360, (40, 30, 25), -1
    )
    cv2.rectangle(
        frame,
        (cx - int(0.25 * s), cy + int(0.5 * s)),
        (cx + int(0.25 * s), cy + int(1.3 * s)),
        (180, 140, 120),
        -1,
    )
    cv2.ellipse(frame, (cx, cy), (int(0.55 * s), int(0.72 * s)), 0, 0, 360, skin, -1)
    for side in (-1, 1):
        ex, ey = cx + side * int(0.22 * s), cy - int(0.12 * s)
        cv2.ellipse(
            frame,
            (ex, ey - int(0.13 * s)),
            (int(0.13 * s), int(0.035 * s)),
            0,
            180,
            360,
            (50, 35, 30),
            -1,
        )
        cv2.ellipse(frame, (ex, ey), (int(0.11 * s), int(0.05 * s)), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(frame, (ex, ey), int(0.045 * s), (70, 50, 40), -1)
        cv2.circle(frame, (ex, ey), max(1, int(0.02 * s)), (10, 10, 10), -1)
    nose = np.array(
        [
            [cx, cy - int(0.05 * s)],
            [cx - int(0.07 * s), cy + int(0.17 * s)],
            [cx + int(0.07 * s), cy + int(0.17 * s)],
        ]
    )
    cv2.fillPoly(frame, [nose], (180, 135, 115))
    cv2.ellipse(
        frame,
        (cx, cy + int(0.36 * s)),
        (int(0.18 * s), int(0.06 * s)),
        0,
        0,
        360,
        (150, 60, 60),
        -1,
    )
    return cx - int(0.55 * s), cy - int(0.72 * s), cx + int(0.55 * s), cy + int(0.72 * s)


def face_frame(
    height: int, width: int, center: tuple[int, int] | None = None, size: int | None = None
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A blurred frame with one face (centred unless told otherwise) and its skin box."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[:] = BACKGROUND
    size = size or min(height, width) // 4
    center = center or (width // 2, height // 2)
    box = draw_face(frame, center, size)
    return cv2.GaussianBlur(frame, (5, 5), 0), box


def empty_frame(height: int, width: int) -> np.ndarray:
    """A frame with a gradient and no face."""
    ramp = np.linspace(40, 200, width, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp, (height, width, 3)).astype(np.uint8).copy()


def write_face_video(
    path: Path, num_frames: int = 12, height: int = 240, width: int = 320, faces: bool = True
) -> Path:
    """An mp4 whose face drifts a little from frame to frame (or an empty scene)."""
    frames = []
    for index in range(num_frames):
        if faces:
            dx = int(10 * np.sin(index / 3))
            frame, _ = face_frame(height, width, (width // 2 + dx, height // 2))
        else:
            frame = empty_frame(height, width)
        frames.append(frame)
    return write_video(path, np.stack(frames), fps=10)
