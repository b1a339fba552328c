"""Occlusion events for the synthetic talking heads: a hand or an object crossing the face.

Without them nothing ever hides part of a face in the embedded dataset, so a motion
model's occlusion map has nothing to find and the occlusion study nothing to measure. In
a share of the videos (the exact share of each split, the videos drawn from the seed) one
event happens at a random time: either a hand on an arm that comes in from a frame edge,
rests over the face (a point between the eyes and the chin) and withdraws the way it
came, or a round or boxy object that crosses the face from one edge to the other. Its
path follows the head, so the face is covered in the middle of the event whatever the
head does.

The occluder is drawn last, over the head, at the drawing resolution. Its ground truth
(the share of the face ellipse and of the frame it covers, and which landmarks it hides)
comes from masks drawn with the same primitives, not from the pixels:
:func:`occlusion_coverage`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datamodules.synthetic_faces import (
    SKIN_TONES,
    SUBPIXEL_SCALE,
    SUBPIXEL_SHIFT,
    Color,
    FaceIdentity,
    HeadPainter,
    HeadPose,
    jitter_color,
)

KINDS = ("hand", "object")
# Where the path's progress is at the event's start, its quarter points and end: in
# [-1, 1], 0 being over the face. A hand withdraws; an object carries on across.
_HAND_PATH = (-1.0, -0.15, 0.0, 0.1, -1.0)
_OBJECT_PATH = (-1.0, -0.3, 0.0, 0.3, 1.0)
_TRAVEL = 0.6  # distance (fraction of the frame) from the face at progress -1 or 1


@dataclass(frozen=True)
class Occluder:
    """One occlusion event: what crosses the face, when and along which way.

    Attributes:
        kind: ``hand`` or ``object``.
        start: first frame of the event.
        length: frames the event lasts.
        direction: unit vector (x, y) from where it comes in towards the face.
        target: where on the face it aims, head offsets (fractions of the frame size).
        size: occluder size, fraction of the frame size.
        color: the hand's skin or the object's colour.
        sleeve: the arm's colour (hands only).
        round: objects: an ellipse rather than a box.
        tilt: object rotation in degrees.
    """

    kind: str
    start: int
    length: int
    direction: tuple[float, float]
    target: tuple[float, float]
    size: float
    color: Color
    sleeve: Color
    round: bool
    tilt: float

    def progress(self, frame: int) -> float | None:
        """Where the occluder is on its path at ``frame`` (-1 .. 1), None outside the event."""
        if not self.start <= frame < self.start + self.length:
            return None
        path = _HAND_PATH if self.kind == "hand" else _OBJECT_PATH
        when = (frame - self.start + 0.5) / self.length
        return float(np.interp(when, np.linspace(0, 1, len(path)), path))


def random_occluder(
    rng: np.random.Generator, face: FaceIdentity, num_frames: int, fps: float = 25.0
) -> Occluder:
    """Draw one event of 1 to 2 seconds (at most the video) at a random time."""
    length = int(min(num_frames, max(2, round(rng.uniform(1.0, 2.0) * fps))))
    start = int(rng.integers(0, num_frames - length + 1))
    angle = rng.uniform(0, 2 * np.pi)
    kind = KINDS[int(rng.random() < 0.4)]
    skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
    return Occluder(
        kind=kind,
        start=start,
        length=length,
        direction=(float(np.cos(angle)), float(np.sin(angle))),
        target=(
            float(rng.uniform(-0.5, 0.5) * face.face_width),
            float(rng.uniform(-0.1, 0.6) * face.face_height),
        ),
        size=float(rng.uniform(0.10, 0.14) if kind == "hand" else rng.uniform(0.12, 0.17)),
        color=jitter_color(rng, skin, 15) if kind == "hand" else _random_color(rng),
        sleeve=_random_color(rng),
        round=bool(rng.random() < 0.5),
        tilt=float(rng.uniform(0, 180)),
    )


def _random_color(rng: np.random.Generator) -> Color:
    return tuple(int(v) for v in rng.integers(20, 236, size=3))


def occluder_centre(occluder: Occluder, pose: HeadPose, frame: int) -> np.ndarray | None:
    """The occluder's centre at ``frame`` in fractions of the frame, None outside the event."""
    progress = occluder.progress(frame)
    if progress is None:
        return None
    radians = np.deg2rad(pose.angle)
    rotation = np.array([[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]])
    target = np.array([0.5 + pose.x, 0.5 + pose.y]) + pose.scale * rotation @ occluder.target
    return target + _TRAVEL * progress * np.asarray(occluder.direction)


def draw_occluder(canvas: np.ndarray, occluder: Occluder, pose: HeadPose, frame: int) -> None:
    """Draw the occluder of ``frame`` (if the event is on) onto ``canvas`` in place.

    On a 2-D (mask) canvas every shape is filled with 255, so the same call that paints
    the frame also gives the ground truth of what it hides.
    """
    centre = occluder_centre(occluder, pose, frame)
    if centre is None:
        return
    full = canvas.shape[0]
    mask = canvas.ndim == 2
    color = (255,) if mask else occluder.color
    unit = occluder.size * full
    along = np.asarray(occluder.direction)
    across = np.array([-along[1], along[0]])
    centre_px = centre * full

    def point(offset: np.ndarray) -> tuple[int, int]:
        return tuple(int(round(v * SUBPIXEL_SCALE)) for v in centre_px + offset)

    def ellipse(offset: np.ndarray, axes: tuple[float, float], degrees: float, fill: Color) -> None:
        fixed = tuple(max(1, int(round(a * SUBPIXEL_SCALE))) for a in axes)
        cv2.ellipse(
            canvas, point(offset), fixed, degrees, 0, 360, fill, -1, cv2.LINE_AA, SUBPIXEL_SHIFT
        )

    heading = float(np.degrees(np.arctan2(along[1], along[0])))
    if occluder.kind == "object":
        if occluder.round:
            ellipse(np.zeros(2), (unit, 0.8 * unit), occluder.tilt, color)
        else:
            box = cv2.boxPoints(((0.0, 0.0), (1.8 * unit, 1.3 * unit), occluder.tilt))
            corners = np.array([point(corner) for corner in box], dtype=np.int32)
            cv2.fillPoly(canvas, [corners], color, cv2.LINE_AA, SUBPIXEL_SHIFT)
        return
    sleeve = (255,) if mask else occluder.sleeve
    arm = [point(-along * 0.6 * unit + side * 0.55 * unit * across) for side in (-1, 1)]
    arm += [point(-along * 3 * full + side * 0.7 * unit * across) for side in (1, -1)]
    cv2.fillPoly(canvas, [np.array(arm, dtype=np.int32)], sleeve, cv2.LINE_AA, SUBPIXEL_SHIFT)
    ellipse(np.zeros(2), (0.8 * unit, 0.7 * unit), heading, color)  # the palm
    for finger in range(4):
        offset = (finger - 1.5) * 0.36 * unit
        ellipse(along * 1.05 * unit + offset * across, (0.5 * unit, 0.15 * unit), heading, color)
    thumb = along * 0.2 * unit + 0.85 * unit * across
    ellipse(thumb, (0.4 * unit, 0.15 * unit), heading + 50, color)


def occlusion_coverage(
    face: FaceIdentity,
    pose: HeadPose,
    occluder: Occluder,
    frame: int,
    points: np.ndarray,
    side: int,
) -> tuple[float, float, int]:
    """The ground truth of one frame: face and frame shares covered, landmarks hidden.

    Args:
        face: the appearance (its face ellipse is the face region).
        pose: the head of ``frame``.
        occluder: the event.
        frame: frame number.
        points: the frame's five landmarks, ``(5, 2)`` pixels of a ``side`` canvas.
        side: the drawing resolution the masks are made at.

    Returns:
        ``(face_covered, frame_covered, hidden_landmarks)``: the shares of the face ellipse
        and of the frame under the occluder, and how many of the five points it covers.
    """
    if occluder.progress(frame) is None:
        return 0.0, 0.0, 0
    covered = np.zeros((side, side), np.uint8)
    draw_occluder(covered, occluder, pose, frame)
    face_mask = np.zeros((side, side), np.uint8)
    HeadPainter(face_mask, pose).ellipse(0, 0, (face.face_width, face.face_height), (255,))
    hidden = covered >= 128
    inside = face_mask >= 128
    cells = np.clip(np.round(points).astype(int), 0, side - 1)
    return (
        float((hidden & inside).sum() / max(1, inside.sum())),
        float(hidden.mean()),
        int(hidden[cells[:, 1], cells[:, 0]].sum()),
    )


def occluded_videos(
    seed: int, first_identity: int, num_identities: int, videos_per_identity: int, share: float
) -> set[tuple[int, int]]:
    """Which ``(identity, video)`` of a split get an event: ``round(share * videos)`` of them.

    Drawn from ``seed`` and the split (its first identity), so the videos, their
    landmarks and the events table agree without sharing state.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"occluded_share={share} must be in [0, 1]")
    videos = [
        (identity, video)
        for identity in range(first_identity, first_identity + num_identities)
        for video in range(videos_per_identity)
    ]
    count = int(round(share * len(videos)))
    rng = np.random.default_rng([seed, first_identity, len(videos), 7919])
    return {videos[k] for k in rng.choice(len(videos), size=count, replace=False)}
