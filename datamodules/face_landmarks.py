"""Five facial landmarks per face crop, as optional columns of ``faces.csv``.

Self-blended training (``data.fakes=self_blended``) needs a face mask per crop, and
the mask is grown from landmarks. Face extraction already runs MTCNN, which gives five
points with every face, so it stores them beside the crop (in the crop's own pixel
coordinates): training then needs no second detector pass. The columns are
``landmark0_x, landmark0_y, ..., landmark4_x, landmark4_y`` in MTCNN's order (see
:class:`datamodules.face_detection.Face`): the eye on the image's left, the other eye,
the nose tip, the mouth corner on the image's left, the other corner. They are empty
where the detector gives no landmarks (Haar, the whole-frame detector without known
landmarks) and absent from tables written before they existed; both read as NaN.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIVE_POINTS = 5
LANDMARK_COLUMNS: tuple[str, ...] = tuple(
    f"landmark{point}_{axis}" for point in range(FIVE_POINTS) for axis in ("x", "y")
)


def landmark_columns(points: np.ndarray | None, decimals: int = 2) -> dict[str, Any]:
    """The faces-table columns of one crop's five points (NaN where unknown).

    Args:
        points: ``(5, 2)`` (x, y) in crop pixels, or None.
        decimals: rounding of the stored coordinates.
    """
    if points is None:
        return dict.fromkeys(LANDMARK_COLUMNS, np.nan)
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (FIVE_POINTS, 2):
        raise ValueError(f"expected (5, 2) landmarks, got shape {points.shape}")
    return {
        name: round(float(value), decimals)
        for name, value in zip(LANDMARK_COLUMNS, points.reshape(-1), strict=True)
    }


def stored_landmarks(table: pd.DataFrame) -> np.ndarray:
    """The stored points of every row: ``(N, 5, 2)`` float32, NaN rows where none are stored.

    A row with any coordinate missing counts as having none (a half-written point set
    cannot place a mask).
    """
    if not set(LANDMARK_COLUMNS) <= set(table.columns):
        return np.full((len(table), FIVE_POINTS, 2), np.nan, dtype=np.float32)
    values = table[list(LANDMARK_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy()
    points = values.astype(np.float32).reshape(len(table), FIVE_POINTS, 2)
    points[np.isnan(points).any(axis=(1, 2))] = np.nan
    return points


def with_landmark_columns(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``table`` with ``columns`` followed by the landmark columns (added as NaN if absent)."""
    return table.reindex(columns=[*columns, *LANDMARK_COLUMNS])


def read_known_landmarks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Landmarks known in advance, per video file name: ``{stem: (frames, 5, 2)}`` fractions.

    The CSV (e.g. the embedded dataset's ``landmarks.csv``) has ``video`` (the video file's
    name without extension), ``frame`` and the landmark columns in fractions of the
    frame width and height. Frames it does not list are NaN.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"landmarks_csv={path} does not exist; give the CSV of known landmarks (e.g. the "
            "embedded dataset's landmarks.csv) or leave landmarks_csv null."
        )
    table = pd.read_csv(path, dtype={"video": str})
    missing = [c for c in ("video", "frame", *LANDMARK_COLUMNS) if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}.")
    known = {}
    for video, rows in table.groupby("video", sort=False):
        frames = rows["frame"].to_numpy(dtype=np.int64)
        points = np.full((frames.max() + 1, FIVE_POINTS, 2), np.nan, dtype=np.float32)
        points[frames] = stored_landmarks(rows)
        known[str(video)] = points
    return known
