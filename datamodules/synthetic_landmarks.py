"""Ground-truth five-point landmarks of the synthetic talking heads.

The embedded cartoons are drawn, not filmed: MTCNN does not find them, so extraction
crops them with the whole-frame detector, which gives no landmarks, and self-blended
training would have no face mask for them. But the generator knows where it draws the
eyes, the nose tip and the mouth corners. This module replays a video's random draws
(the same generator calls in the same order as
:func:`datamodules.synthetic_faces.render_talking_head`, so nothing is rendered and
the pixels are untouched) and maps those head-frame points to frame pixels the way
the painter does.

``write_embedded_landmarks`` writes ``landmarks.csv`` at the dataset root: ``video``
(the file name without extension, e.g. ``id0003#01``, so re-encoded copies such as
``fomm_fakes``' ``real/<split>/id0003#01.mp4`` match it too), ``frame``, and
``landmark0_x ... landmark4_y`` in fractions of the frame width and height (a resized
copy keeps them), in MTCNN's order. ``python -m datamodules.extraction ...
landmarks_csv=<root>/landmarks.csv`` stores them with the crops.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.face_landmarks import LANDMARK_COLUMNS
from datamodules.synthetic_faces import (
    FaceIdentity,
    HeadPose,
    random_background,
    random_identity,
    random_motion,
)

log = logging.getLogger(__name__)

LANDMARKS_FILE = "landmarks.csv"


def head_points(face: FaceIdentity) -> np.ndarray:
    """The five points in head coordinates (fractions of the frame size, head centre origin).

    Where :func:`datamodules.synthetic_faces.render_frame` draws them: the eye centres,
    the tip of the nose triangle, the ends of the lips ellipse. The eye with the
    negative head x is on the image's left at any of the generator's rotations (at
    most 20 degrees).
    """
    eye_x, eye_y = face.eye_spacing * face.face_width, -0.18 * face.face_height
    nose_y = 0.08 * face.face_height + 0.6 * face.nose_length
    mouth_y = 0.52 * face.face_height
    return np.array(
        [
            [-eye_x, eye_y],
            [eye_x, eye_y],
            [0.0, nose_y],
            [-face.mouth_width, mouth_y],
            [face.mouth_width, mouth_y],
        ]
    )


def frame_points(face: FaceIdentity, pose: HeadPose, size: int, supersample: int = 4) -> np.ndarray:
    """The five points of one frame, ``(5, 2)`` (x, y) in pixels of the ``size`` frame.

    The painter places head point p at ``centre + unit * R p`` on the canvas that is
    ``supersample`` times larger; area averaging then maps canvas pixel c to
    ``(c + 0.5) / supersample - 0.5`` (pixel-centre coordinates).
    """
    canvas = size * supersample
    centre = canvas * np.array([0.5 + pose.x, 0.5 + pose.y])
    radians = np.deg2rad(pose.angle)
    rotation = np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    on_canvas = centre + canvas * pose.scale * head_points(face) @ rotation.T
    return (on_canvas + 0.5) / supersample - 0.5


def talking_head_landmarks(
    seed: int,
    identity: int,
    video: int,
    num_frames: int,
    size: int = 64,
    fps: float = 25.0,
    supersample: int = 4,
) -> np.ndarray:
    """The points of every frame of video ``video`` of ``identity``: ``(num_frames, 5, 2)``.

    The draws match :func:`datamodules.embedded.write_talking_heads`: the identity from
    ``[seed, identity]``, the background then the motion from ``[seed, identity, video + 1]``.
    """
    face = random_identity(np.random.default_rng([seed, identity]))
    rng = np.random.default_rng([seed, identity, video + 1])
    random_background(rng, size * supersample, avoid=face.skin)  # advances rng as rendering does
    motion = random_motion(rng, num_frames, fps)
    return np.stack([frame_points(face, pose, size, supersample) for pose in motion])


def _videos(spec: Any) -> list[tuple[int, int]]:
    """``(identity, video)`` of every video of the spec, in every split."""
    return [
        (identity, video)
        for _, identities, videos, first in spec.split_layout()
        for identity in range(first, first + identities)
        for video in range(videos)
    ]


def embedded_landmarks_table(spec: Any) -> pd.DataFrame:
    """The ``landmarks.csv`` table of an :class:`datamodules.embedded.EmbeddedSpec`."""
    tables = []
    for identity, video in _videos(spec):
        points = talking_head_landmarks(
            spec.seed, identity, video, spec.num_frames, spec.size, spec.fps
        )
        fractions = (points / spec.size).reshape(len(points), -1)
        table = pd.DataFrame(np.round(fractions, 5), columns=list(LANDMARK_COLUMNS))
        table.insert(0, "frame", np.arange(len(points)))
        table.insert(0, "video", f"id{identity:04d}#{video:02d}")
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def write_embedded_landmarks(root: str | os.PathLike, spec: Any) -> Path | None:
    """Write ``<root>/landmarks.csv`` (atomically) unless it is there; return its path.

    A read-only copy without the file keeps working for everything but landmarks: a
    warning says so and None is returned.
    """
    target = Path(root) / LANDMARKS_FILE
    if target.is_file():
        return target
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        embedded_landmarks_table(spec).to_csv(temporary, index=False)
        os.replace(temporary, target)
    except OSError as error:
        log.warning("Could not write %s (%s): no landmarks for the synthetic faces", target, error)
        return None
    return target
