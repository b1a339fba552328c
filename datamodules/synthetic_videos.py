"""One synthetic talking-head video: what is drawn from its seed, and the frames.

A video is planned first (a :class:`TalkingHeadPlan`: the background, the head motion,
and in the videos chosen for it an occlusion event), then rendered. The ground-truth
tables of the embedded dataset (``landmarks.csv``, ``occlusion_events.csv``) replay the
same plans, so they describe exactly the frames that were written without decoding
them. The draws come from the generator in a fixed order (background, motion, occluder):
a video planned without its occluder has the same background and motion.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from datamodules.synthetic_faces import (
    FaceIdentity,
    HeadPose,
    draw_head,
    random_background,
    random_identity,
    random_motion,
)
from datamodules.synthetic_occluders import (
    Occluder,
    draw_occluder,
    occluded_videos,
    random_occluder,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TalkingHeadPlan:
    """Everything a video's seed decides beyond the person.

    Attributes:
        background: RGB image at the drawing resolution (``supersample`` x the frame size).
        motion: one pose per frame.
        occluder: the occlusion event, or None.
    """

    background: np.ndarray
    motion: list[HeadPose]
    occluder: Occluder | None


def plan_talking_head(
    face: FaceIdentity,
    rng: np.random.Generator,
    num_frames: int,
    size: int = 64,
    fps: float = 25.0,
    supersample: int = 4,
    head_turn: float = 0.0,
    occluded: bool = False,
) -> TalkingHeadPlan:
    """Draw a video's background, motion (turns up to ``head_turn`` degrees) and occluder."""
    background = random_background(rng, size * supersample, avoid=face.skin)
    motion = random_motion(rng, num_frames, fps, head_turn)
    occluder = random_occluder(rng, face, num_frames, fps) if occluded else None
    return TalkingHeadPlan(background, motion, occluder)


def render_plan(face: FaceIdentity, plan: TalkingHeadPlan, size: int) -> np.ndarray:
    """The frames of a plan, ``(num_frames, size, size, 3)`` uint8 RGB."""
    frames = []
    for index, pose in enumerate(plan.motion):
        canvas = draw_head(face, pose, plan.background)
        if plan.occluder is not None:
            draw_occluder(canvas, plan.occluder, pose, index)
        frames.append(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def render_talking_head(
    face: FaceIdentity,
    rng: np.random.Generator,
    num_frames: int,
    size: int = 64,
    fps: float = 25.0,
    supersample: int = 4,
    head_turn: float = 0.0,
    occluded: bool = False,
) -> np.ndarray:
    """Render one video of ``face`` drawn from ``rng`` (see :func:`plan_talking_head`).

    Returns:
        ``(num_frames, size, size, 3)`` uint8 RGB frames.
    """
    plan = plan_talking_head(face, rng, num_frames, size, fps, supersample, head_turn, occluded)
    return render_plan(face, plan, size)


@dataclass(frozen=True)
class PlannedVideo:
    """A video of an embedded spec: its name, person and plan."""

    name: str
    identity: int
    video: int
    face: FaceIdentity
    plan: TalkingHeadPlan


def video_name(identity: int, video: int) -> str:
    """The file stem of a generated video, e.g. ``id0003#01``."""
    return f"id{identity:04d}#{video:02d}"


def split_plans(
    num_identities: int,
    videos_per_identity: int,
    num_frames: int,
    size: int,
    seed: int,
    fps: float,
    first_identity: int = 0,
    head_turn: float = 0.0,
    occluded_share: float = 0.0,
    supersample: int = 4,
) -> Iterator[PlannedVideo]:
    """Plan the videos of one split, as :func:`~datamodules.embedded.write_talking_heads`.

    Identity ``k`` is drawn from ``[seed, k]``, its video ``v`` from ``[seed, k, v + 1]``;
    the occluded ones are chosen by :func:`~datamodules.synthetic_occluders.occluded_videos`.
    """
    occluded = occluded_videos(
        seed, first_identity, num_identities, videos_per_identity, occluded_share
    )
    for identity in range(first_identity, first_identity + num_identities):
        face = random_identity(np.random.default_rng([seed, identity]))
        for video in range(videos_per_identity):
            plan = plan_talking_head(
                face,
                np.random.default_rng([seed, identity, video + 1]),
                num_frames,
                size,
                fps,
                supersample,
                head_turn,
                (identity, video) in occluded,
            )
            yield PlannedVideo(video_name(identity, video), identity, video, face, plan)


def spec_plans(spec: Any) -> Iterator[PlannedVideo]:
    """Plan every video of an :class:`~datamodules.embedded.EmbeddedSpec`, split by split."""
    for _, identities, videos, first in spec.split_layout():
        yield from split_plans(
            identities, videos, spec.num_frames, spec.size, spec.seed, spec.fps, first,
            spec.head_turn, spec.occluded_share,
        )  # fmt: skip


def write_table_once(target: Path, build: Callable[[], pd.DataFrame], missing: str) -> Path | None:
    """Write ``build()`` to ``target`` as CSV (atomically) unless it is there; return its path.

    A read-only copy without the file keeps working for everything but that table: a
    warning says so (``missing`` names what is lost) and None is returned.
    """
    if target.is_file():
        return target
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        build().to_csv(temporary, index=False)
        os.replace(temporary, target)
    except OSError as error:
        log.warning("Could not write %s (%s): %s", target, error, missing)
        return None
    return target
