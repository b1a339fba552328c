"""Ground-truth five-point landmarks of the synthetic talking heads.

The embedded cartoons are drawn, not filmed: MTCNN does not find them, so extraction
crops them with the whole-frame detector, which gives no landmarks, and self-blended
training would have no face mask for them. But the generator knows where it draws the
eyes, the nose tip and the mouth corners. This module replays a video's plan
(:func:`datamodules.synthetic_videos.plan_talking_head`, so nothing is rendered and
the pixels are untouched) and maps those head-frame points to frame pixels the way
the painter does, head turns included. A hand or object passing in front of the face
does not move the points: they stay where the face is, and
``occlusion_events.csv`` (:mod:`datamodules.synthetic_occlusion_events`) says how many
of them it hides in each frame.

``write_embedded_landmarks`` writes ``landmarks.csv`` at the dataset root: ``video``
(the file name without extension, e.g. ``id0003#01``, so re-encoded copies such as
``fomm_fakes``' ``real/<split>/id0003#01.mp4`` match it too), ``frame``, and
``landmark0_x ... landmark4_y`` in fractions of the frame width and height (a resized
copy keeps them), in MTCNN's order. ``python -m datamodules.extraction ...
landmarks_csv=<root>/landmarks.csv`` stores them with the crops.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.face_landmarks import LANDMARK_COLUMNS
from datamodules.synthetic_faces import (
    FaceIdentity,
    HeadPose,
    nose_radius,
    random_identity,
    turned,
)
from datamodules.synthetic_videos import plan_talking_head, spec_plans, write_table_once

LANDMARKS_FILE = "landmarks.csv"


def head_points(face: FaceIdentity, yaw: float = 0.0) -> np.ndarray:
    """The five points in head coordinates (fractions of the frame size, head centre origin).

    Where :func:`datamodules.synthetic_faces.render_frame` draws them at a turn of
    ``yaw`` degrees: the eye centres, the middle of the nose triangle's base, the ends of
    the lips ellipse. The eye with the negative head x stays on the image's left at the
    generator's rotations (at most 20 degrees) and turns (the face sphere keeps the
    eyes' order up to 90 degrees minus their azimuth).
    """
    width, height = face.face_width, face.face_height
    eye_y = -0.18 * height
    left_eye, _ = turned(-face.eye_spacing * width, width, yaw)
    right_eye, _ = turned(face.eye_spacing * width, width, yaw)
    nose_x, _ = turned(0.0, nose_radius(face), yaw)
    nose_y = 0.08 * height + 0.6 * face.nose_length
    mouth_x, squeeze = turned(0.0, width, yaw)
    mouth_y, mouth_half = 0.52 * height, squeeze * face.mouth_width
    return np.array(
        [
            [left_eye, eye_y],
            [right_eye, eye_y],
            [nose_x, nose_y],
            [mouth_x - mouth_half, mouth_y],
            [mouth_x + mouth_half, mouth_y],
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
    on_canvas = centre + canvas * pose.scale * head_points(face, pose.yaw) @ rotation.T
    return (on_canvas + 0.5) / supersample - 0.5


def talking_head_landmarks(
    seed: int,
    identity: int,
    video: int,
    num_frames: int,
    size: int = 64,
    fps: float = 25.0,
    supersample: int = 4,
    head_turn: float = 0.0,
) -> np.ndarray:
    """The points of every frame of video ``video`` of ``identity``: ``(num_frames, 5, 2)``.

    The draws match :func:`datamodules.embedded.write_talking_heads`: the identity from
    ``[seed, identity]``, the plan from ``[seed, identity, video + 1]`` (its occluder,
    drawn last, does not move the face).
    """
    face = random_identity(np.random.default_rng([seed, identity]))
    rng = np.random.default_rng([seed, identity, video + 1])
    plan = plan_talking_head(face, rng, num_frames, size, fps, supersample, head_turn)
    return np.stack([frame_points(face, pose, size, supersample) for pose in plan.motion])


def embedded_landmarks_table(spec: Any) -> pd.DataFrame:
    """The ``landmarks.csv`` table of an :class:`datamodules.embedded.EmbeddedSpec`."""
    tables = []
    for planned in spec_plans(spec):
        points = np.stack(
            [frame_points(planned.face, pose, spec.size) for pose in planned.plan.motion]
        )
        fractions = (points / spec.size).reshape(len(points), -1)
        table = pd.DataFrame(np.round(fractions, 5), columns=list(LANDMARK_COLUMNS))
        table.insert(0, "frame", np.arange(len(points)))
        table.insert(0, "video", planned.name)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def write_embedded_landmarks(root: str | os.PathLike, spec: Any) -> Path | None:
    """Write ``<root>/landmarks.csv`` (atomically) unless it is there; return its path.

    A read-only copy without the file keeps working for everything but landmarks: a
    warning says so and None is returned.
    """
    return write_table_once(
        Path(root) / LANDMARKS_FILE,
        lambda: embedded_landmarks_table(spec),
        "no landmarks for the synthetic faces",
    )
