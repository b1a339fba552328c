"""Where frame points land in a face crop: the geometry of :func:`.crops.crop_face`.

Extraction stores each face's landmarks in its crop's pixels (``faces.csv``), so self-
blended training can grow a mask on the crop without running a detector again. The
mapping repeats the crop's steps: the margin box, the square around it (``scale``) or
the box itself (``tight``), then the resize, with OpenCV's pixel-centre convention
(``x_out = (x_in + 0.5) * ratio - 0.5``).
"""

from __future__ import annotations

import numpy as np

from datamodules.extraction.crops import (
    MARGIN,
    CropSettings,
    box_with_margin,
    check_policy,
    square_around,
)
from datamodules.face_detection import Face


def landmarks_in_crop(
    points: np.ndarray,
    box: tuple[float, float, float, float],
    frame_size: tuple[int, int],
    policy: str = "scale",
    size: int = 224,
    margin: float = MARGIN,
) -> np.ndarray:
    """Map ``(K, 2)`` frame points into the crop :func:`crop_face` cuts for ``box``.

    Args:
        points: (x, y) in frame pixels.
        box: the detector's (left, top, right, bottom) in frame pixels.
        frame_size: (height, width) of the frame.
        policy: ``scale`` or ``tight``.
        size: the crop size of :func:`crop_face`.
        margin: the crop margin of :func:`crop_face`.

    Returns:
        ``(K, 2)`` float32 (x, y) in crop pixels (may fall outside a crop that cut them).
    """
    check_policy(policy)
    region = box_with_margin(box, frame_size, margin)
    if policy == "scale":
        left, top, right, bottom = square_around(region, frame_size)
        ratio_x = ratio_y = size / (right - left)
    else:
        left, top, right, bottom = region
        ratio = size / max(right - left, bottom - top)
        ratio_x = max(1, round((right - left) * ratio)) / (right - left)
        ratio_y = max(1, round((bottom - top) * ratio)) / (bottom - top)
    points = np.asarray(points, dtype=np.float64)
    crop_x = (points[:, 0] - left + 0.5) * ratio_x - 0.5
    crop_y = (points[:, 1] - top + 0.5) * ratio_y - 0.5
    return np.stack([crop_x, crop_y], axis=1).astype(np.float32)


def face_landmarks_in_crop(
    face: Face,
    frame: int,
    known: np.ndarray | None,
    frame_size: tuple[int, int],
    settings: CropSettings,
) -> np.ndarray | None:
    """The five points of one extracted face in its crop's pixels, or None.

    The detector's landmarks come first. A detector without any (the whole-frame one)
    takes the points known for that frame (``known``: ``(frames, 5, 2)`` fractions of
    the frame width and height), if all of them fall inside the face box: known points
    describe one face, and a box that does not hold them is another face.
    """
    points = face.landmarks
    if points is None and known is not None and frame < len(known):
        height, width = frame_size
        candidate = known[frame] * np.array([width, height], dtype=np.float32)
        left, top, right, bottom = face.box
        inside = (
            (candidate[:, 0] >= left)
            & (candidate[:, 0] <= right)
            & (candidate[:, 1] >= top)
            & (candidate[:, 1] <= bottom)
        )
        if not np.isnan(candidate).any() and inside.all():
            points = candidate
    if points is None:
        return None
    return landmarks_in_crop(
        points, face.box, frame_size, settings.policy, settings.size, settings.margin
    )
