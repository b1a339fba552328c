"""``occlusion_events.csv``: when and how much a hand or object hides each generated face.

The occlusion study relates a motion model's occlusion map to what is really hidden; on
the embedded dataset that truth is known. One row per frame of every video (0 where
nothing covers the face), replayed from the videos' plans
(:mod:`datamodules.synthetic_videos`), with masks drawn at the drawing resolution:

- ``video`` and ``frame``, as in ``landmarks.csv``;
- ``occluder``: ``hand``, ``object`` or empty (no event in this video);
- ``event``: 1 in the frames of the event (the occluder may still be off the face);
- ``face_covered``: the share of the face ellipse under the occluder;
- ``frame_covered``: the share of the frame under it;
- ``hidden_landmarks``: how many of the five landmarks it covers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.synthetic_landmarks import frame_points
from datamodules.synthetic_occluders import occlusion_coverage
from datamodules.synthetic_videos import PlannedVideo, spec_plans, write_table_once

EVENTS_FILE = "occlusion_events.csv"
EVENT_COLUMNS = (
    "video", "frame", "occluder", "event", "face_covered", "frame_covered", "hidden_landmarks",
)  # fmt: skip


def video_events(planned: PlannedVideo, size: int, supersample: int = 4) -> pd.DataFrame:
    """The rows of one planned video (see the module docstring)."""
    occluder = planned.plan.occluder
    side = size * supersample
    rows = []
    for frame, pose in enumerate(planned.plan.motion):
        covered = (0.0, 0.0, 0)
        if occluder is not None and occluder.progress(frame) is not None:
            # frame_points maps to output pixels; the masks are at the drawing resolution
            points = (frame_points(planned.face, pose, size, supersample) + 0.5) * supersample
            covered = occlusion_coverage(planned.face, pose, occluder, frame, points - 0.5, side)
        rows.append(
            (
                planned.name,
                frame,
                "" if occluder is None else occluder.kind,
                int(occluder is not None and occluder.progress(frame) is not None),
                round(covered[0], 4),
                round(covered[1], 4),
                covered[2],
            )
        )
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def embedded_occlusion_table(spec: Any) -> pd.DataFrame:
    """The ``occlusion_events.csv`` table of an :class:`datamodules.embedded.EmbeddedSpec`."""
    return pd.concat([video_events(p, spec.size) for p in spec_plans(spec)], ignore_index=True)


def write_embedded_occlusion_events(root: str | os.PathLike, spec: Any) -> Path | None:
    """Write ``<root>/occlusion_events.csv`` (atomically) unless it is there; return its path."""
    return write_table_once(
        Path(root) / EVENTS_FILE,
        lambda: embedded_occlusion_table(spec),
        "no ground truth for the occlusion study",
    )


def read_occlusion_events(path: str | os.PathLike) -> pd.DataFrame:
    """Read an events table, checking its columns.

    Raises:
        FileNotFoundError: no such file (names the path and where it comes from).
        ValueError: a file without the table's columns.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no occlusion events table; the embedded dataset writes {EVENTS_FILE} "
            "at its root (data/embedded/) when generated"
        )
    table = pd.read_csv(path, dtype={"video": str, "occluder": str}, keep_default_na=False)
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing} of an occlusion events table")
    for column in ("frame", "event", "face_covered", "frame_covered", "hidden_landmarks"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table.dropna(subset=["frame"]).astype({"frame": np.int64})
