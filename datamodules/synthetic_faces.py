"""Draw synthetic talking heads: cartoon faces that move, blink and talk.

The embedded dataset (and anything else that needs faces without downloads, such
as tests or a detector study) is made of these. What matters for FOMM is that the
motion is learnable and the appearance varies: each identity has its own face
shape, skin, hair, ears, eyes and mouth; each video has its own static background
and a smooth random head motion (translation, in-plane rotation, scale, and with
``head_turn`` a left-right turn) with blinks and mouth opening. A turn treats the face
as a sphere: eyes, nose and mouth slide sideways and narrow, the nose tip (standing out
of the sphere) slides furthest, and the far ear goes behind the head. Frames are drawn
with anti-aliased OpenCV primitives at ``supersample`` times the output size and reduced
with area averaging, so edges are smooth and sub-pixel motion stays visible at 64x64.
Whole videos, with their occlusion events, are planned and rendered by
:mod:`datamodules.synthetic_videos`.

Everything is a pure function of a ``numpy.random.Generator``: the same seed
gives the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Color = tuple[int, int, int]

SKIN_TONES: tuple[Color, ...] = (
    (255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66),
    (141, 85, 36), (92, 56, 30), (255, 205, 178), (210, 160, 140),
)  # fmt: skip
_HAIR_COLORS: tuple[Color, ...] = (
    (20, 15, 10), (60, 35, 20), (110, 70, 35), (200, 160, 80),
    (170, 60, 25), (150, 150, 150), (235, 235, 225), (40, 40, 120),
)  # fmt: skip
_EYE_COLORS: tuple[Color, ...] = ((60, 40, 20), (40, 90, 160), (50, 120, 60), (90, 90, 90))
SUBPIXEL_SHIFT = 4  # OpenCV fixed-point bits: coordinates are drawn with 1/16 pixel precision
SUBPIXEL_SCALE = 1 << SUBPIXEL_SHIFT


@dataclass(frozen=True)
class FaceIdentity:
    """The fixed appearance of one synthetic person (sizes are fractions of the frame size)."""

    skin: Color
    hair: Color
    hair_style: int  # 0 bald, 1 short cap, 2 long, 3 cap with a fringe
    shirt: Color
    eye_color: Color
    lips: Color
    face_width: float
    face_height: float
    eye_spacing: float
    eye_size: float
    brow_thickness: float
    mouth_width: float
    nose_length: float
    ears: bool


@dataclass(frozen=True)
class HeadPose:
    """Where the head is and what the face does in one frame.

    Attributes:
        x: horizontal offset of the head centre from the frame centre (fraction of size).
        y: vertical offset (fraction of size, down is positive).
        angle: in-plane rotation in degrees (clockwise on screen).
        scale: head size factor.
        yaw: left-right turn in degrees (positive: the face turns to the image's right).
        eyes_open: 1 open, 0 closed.
        mouth_open: 0 closed, 1 wide open.
    """

    x: float = 0.0
    y: float = 0.0
    angle: float = 0.0
    scale: float = 1.0
    eyes_open: float = 1.0
    mouth_open: float = 0.0
    yaw: float = 0.0


def jitter_color(rng: np.random.Generator, color: Color, amount: int) -> Color:
    """``color`` with each channel moved by up to ``amount``: people of one tone still differ."""
    values = np.asarray(color) + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(values, 0, 255))


def random_identity(rng: np.random.Generator) -> FaceIdentity:
    """Draw a random appearance."""
    skin = jitter_color(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 12)
    return FaceIdentity(
        skin=skin,
        hair=jitter_color(rng, _HAIR_COLORS[rng.integers(len(_HAIR_COLORS))], 15),
        hair_style=int(rng.integers(4)),
        shirt=tuple(int(v) for v in rng.integers(30, 230, size=3)),
        eye_color=_EYE_COLORS[rng.integers(len(_EYE_COLORS))],
        lips=jitter_color(rng, (170, 60, 70), 30),
        face_width=float(rng.uniform(0.18, 0.23)),
        face_height=float(rng.uniform(0.23, 0.28)),
        eye_spacing=float(rng.uniform(0.36, 0.48)),
        eye_size=float(rng.uniform(0.030, 0.042)),
        brow_thickness=float(rng.uniform(0.010, 0.022)),
        mouth_width=float(rng.uniform(0.05, 0.08)),
        nose_length=float(rng.uniform(0.04, 0.07)),
        ears=bool(rng.random() < 0.75),
    )


def _smooth_signal(
    rng: np.random.Generator, num_frames: int, fps: float, freqs: tuple
) -> np.ndarray:
    """A smooth random curve in about [-1, 1]: a sum of sines of random frequency and phase."""
    t = np.arange(num_frames) / fps
    signal = np.zeros(num_frames)
    for _ in range(3):
        freq = rng.uniform(*freqs)
        signal += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return signal / max(1e-6, np.abs(signal).max())


def random_motion(
    rng: np.random.Generator, num_frames: int, fps: float = 25.0, head_turn: float = 0.0
) -> list[HeadPose]:
    """Draw a head motion: smooth translation, rotation and scale, blinks, and speech.

    Args:
        rng: the generator everything is drawn from.
        num_frames: frames of the video.
        fps: frame rate (the motion's frequencies are in Hz).
        head_turn: the largest left-right turn in degrees; each video turns up to between
            half and all of it. 0 draws no turn (and nothing from ``rng`` for it).
    """
    centre_x, centre_y = rng.uniform(-0.05, 0.05), rng.uniform(-0.03, 0.05)
    x = centre_x + rng.uniform(0.06, 0.12) * _smooth_signal(rng, num_frames, fps, (0.1, 0.6))
    y = centre_y + rng.uniform(0.03, 0.07) * _smooth_signal(rng, num_frames, fps, (0.1, 0.6))
    angle = rng.uniform(8, 20) * _smooth_signal(rng, num_frames, fps, (0.1, 0.5))
    scale = 1.0 + rng.uniform(0.03, 0.09) * _smooth_signal(rng, num_frames, fps, (0.05, 0.3))
    eyes = np.ones(num_frames)
    start = int(rng.integers(0, max(1, int(fps))))
    while start < num_frames:
        for offset, closed in enumerate((0.5, 1.0, 1.0, 0.6, 0.25)):
            if start + offset < num_frames:
                eyes[start + offset] = 1.0 - closed
        start += int(rng.integers(int(0.8 * fps), int(2.2 * fps)))
    envelope = np.clip(0.6 + 0.6 * _smooth_signal(rng, num_frames, fps, (0.1, 0.4)), 0, 1)
    syllables = 0.5 + 0.5 * _smooth_signal(rng, num_frames, fps, (2.0, 4.0))
    mouth = np.clip(envelope * syllables, 0, 1)
    yaw = np.zeros(num_frames)
    if head_turn > 0:
        yaw = rng.uniform(0.5, 1.0) * head_turn * _smooth_signal(rng, num_frames, fps, (0.1, 0.4))
    return [
        HeadPose(
            float(x[i]), float(y[i]), float(angle[i]), float(scale[i]), eyes[i], mouth[i],
            float(yaw[i]),
        )
        for i in range(num_frames)
    ]  # fmt: skip


def turned(x: float, radius: float, yaw: float) -> tuple[float, float]:
    """Where a point of a sphere of ``radius``, at head x ``x``, lands after a turn of ``yaw``.

    Returns:
        The new head x and the horizontal squeeze of a feature there relative to its
        width unturned (foreshortening; 1 at ``yaw`` 0), at least 0.15: a feature seen
        edge-on is never drawn thinner than that.
    """
    start = np.arcsin(np.clip(x / radius, -0.99, 0.99))
    azimuth = start + np.deg2rad(yaw)
    squeeze = np.cos(azimuth) / np.cos(start)
    return float(radius * np.sin(azimuth)), float(np.clip(squeeze, 0.15, 1.0 / np.cos(start)))


def nose_radius(face: FaceIdentity) -> float:
    """The nose tip stands out of the face sphere, so a turn moves it further."""
    return 1.25 * face.face_width


def random_background(rng: np.random.Generator, size: int, avoid: Color) -> np.ndarray:
    """A static background unlike ``avoid``: a two-colour gradient with a few soft shapes."""
    colors = []
    while len(colors) < 2:
        color = rng.integers(20, 236, size=3)
        if np.abs(color - np.asarray(avoid)).sum() > 150:
            colors.append(color)
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    image = np.broadcast_to(colors[0] * (1 - ramp) + colors[1] * ramp, (size, size, 3))
    if rng.random() < 0.5:
        image = image.transpose(1, 0, 2)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    for _ in range(int(rng.integers(2, 5))):
        color = tuple(int(v) for v in rng.integers(20, 236, size=3))
        centre = rng.integers(0, size, size=2)
        if rng.random() < 0.5:
            radius = int(rng.integers(size // 12, size // 5))
            cv2.circle(image, tuple(int(v) for v in centre), radius, color, -1, cv2.LINE_AA)
        else:
            half = rng.integers(size // 14, size // 5, size=2)
            corner0, corner1 = (tuple(int(v) for v in centre + d * half) for d in (-1, 1))
            cv2.rectangle(image, corner0, corner1, color, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(image, (0, 0), max(0.5, size / 200))


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


class HeadPainter:
    """Draws in head coordinates (fractions of the frame size, origin at the head centre)."""

    def __init__(self, canvas: np.ndarray, pose: HeadPose) -> None:
        self.canvas = canvas
        size = canvas.shape[0]
        self.unit = size * pose.scale
        self.centre = np.array([size * (0.5 + pose.x), size * (0.5 + pose.y)])
        radians = np.deg2rad(pose.angle)
        self.rotation = np.array(
            [[np.cos(radians), -np.sin(radians)], [np.sin(radians), np.cos(radians)]]
        )
        self.angle = pose.angle

    def point(self, x: float, y: float) -> tuple[int, int]:
        """Canvas position of head point ``(x, y)``, in OpenCV's fixed-point units."""
        px, py = self.centre + self.unit * (self.rotation @ np.array([x, y]))
        return int(round(px * SUBPIXEL_SCALE)), int(round(py * SUBPIXEL_SCALE))

    def ellipse(
        self,
        x: float,
        y: float,
        axes: tuple[float, float],
        color: Color,
        arc: tuple[float, float] = (0, 360),
        thickness: float = -1,
        tilt: float = 0.0,
    ) -> None:
        """An ellipse (or an arc of ``thickness``, a fraction of the size) in head coordinates."""
        fixed_axes = tuple(max(1, int(round(a * self.unit * SUBPIXEL_SCALE))) for a in axes)
        width = -1 if thickness < 0 else max(1, int(round(thickness * self.unit)))
        cv2.ellipse(
            self.canvas, self.point(x, y), fixed_axes, self.angle + tilt, arc[0], arc[1],
            color, width, cv2.LINE_AA, SUBPIXEL_SHIFT,
        )  # fmt: skip

    def polygon(self, points: list[tuple[float, float]], color: Color) -> None:
        """A filled polygon in head coordinates."""
        fixed = np.array([self.point(x, y) for x, y in points], dtype=np.int32)
        cv2.fillPoly(self.canvas, [fixed], color, cv2.LINE_AA, SUBPIXEL_SHIFT)


def _draw_eyes(head: HeadPainter, face: FaceIdentity, eyes_open: float, yaw: float) -> None:
    size, eye_y = face.eye_size, -0.18 * face.face_height
    opening = max(0.0, min(1.0, eyes_open))
    for side in (-1, 1):
        eye_x, squeeze = turned(side * face.eye_spacing * face.face_width, face.face_width, yaw)
        wide = squeeze * size
        brow_y = eye_y - 1.9 * size + 0.3 * size * (1 - opening)
        head.ellipse(eye_x, brow_y, (1.7 * wide, 0.7 * size), _shade(face.hair, 0.7),
                     arc=(200, 340), thickness=face.brow_thickness)  # fmt: skip
        if opening < 0.2:
            head.ellipse(eye_x, eye_y, (1.5 * wide, 0.25 * size), _shade(face.skin, 0.55),
                         arc=(0, 180), thickness=0.006)  # fmt: skip
            continue
        height = size * opening
        head.ellipse(eye_x, eye_y, (1.5 * wide, height), (250, 250, 250))
        head.ellipse(eye_x, eye_y, (0.75 * wide, min(0.75 * size, height)), face.eye_color)
        head.ellipse(eye_x, eye_y, (0.35 * wide, min(0.35 * size, height)), (10, 10, 10))
        head.ellipse(eye_x, eye_y, (1.5 * wide, height), _shade(face.skin, 0.45),
                     arc=(180, 360), thickness=0.006)  # fmt: skip


def _draw_mouth(head: HeadPainter, face: FaceIdentity, mouth_open: float, yaw: float) -> None:
    mouth_x, squeeze = turned(0.0, face.face_width, yaw)
    mouth_y, wide = 0.52 * face.face_height, squeeze * face.mouth_width
    opening = 0.006 + 0.05 * max(0.0, min(1.0, mouth_open))
    head.ellipse(mouth_x, mouth_y, (wide, opening + 0.014), face.lips)
    head.ellipse(mouth_x, mouth_y, (0.8 * wide, opening), (70, 15, 25))
    if mouth_open > 0.3:
        head.ellipse(mouth_x, mouth_y - 0.6 * opening, (0.6 * wide, 0.35 * opening),
                     (245, 245, 240))  # fmt: skip


def _draw_nose(head: HeadPainter, face: FaceIdentity, yaw: float) -> None:
    """A triangle from the bridge to the tip; the tip stands out, so a turn tilts it."""
    height = face.face_height
    bridge_x, _ = turned(0.0, 1.05 * face.face_width, yaw)
    tip_x, squeeze = turned(0.0, nose_radius(face), yaw)
    tip_y = 0.08 * height + 0.6 * face.nose_length
    head.polygon([(bridge_x, -0.05 * height), (tip_x - 0.028 * squeeze, tip_y),
                  (tip_x + 0.028 * squeeze, tip_y)], _shade(face.skin, 0.78))  # fmt: skip


def render_frame(
    face: FaceIdentity, pose: HeadPose, background: np.ndarray, size: int
) -> np.ndarray:
    """Draw one frame ``(size, size, 3)`` uint8 RGB.

    Args:
        face: the appearance.
        pose: head position, rotation, turn, scale, eye and mouth state.
        background: RGB image at the drawing resolution (a multiple of ``size``).
        size: output size in pixels.
    """
    return cv2.resize(draw_head(face, pose, background), (size, size), interpolation=cv2.INTER_AREA)


def draw_head(face: FaceIdentity, pose: HeadPose, background: np.ndarray) -> np.ndarray:
    """The frame at the drawing resolution (what :func:`render_frame` reduces), a new array."""
    canvas = background.copy()
    full = canvas.shape[0]
    head = HeadPainter(canvas, pose)
    width, height = face.face_width, face.face_height
    neck = _shade(face.skin, 0.8)
    head.polygon([(-0.45 * width, 0.5 * height), (0.45 * width, 0.5 * height),
                  (0.5 * width, 1.6 * height), (-0.5 * width, 1.6 * height)], neck)  # fmt: skip
    shoulders = (
        int(full * (0.5 + 0.6 * pose.x) * SUBPIXEL_SCALE),
        int(full * (0.5 + 0.45 + 0.3 * pose.y) * SUBPIXEL_SCALE),
    )
    axes = (int(0.42 * full * SUBPIXEL_SCALE), int(0.2 * full * SUBPIXEL_SCALE))
    cv2.ellipse(canvas, shoulders, axes, 0, 0, 360, face.shirt, -1, cv2.LINE_AA, SUBPIXEL_SHIFT)
    if face.hair_style == 2:
        head.ellipse(0, 0.12 * height, (1.2 * width, 1.15 * height), face.hair)
    if face.ears:  # drawn before the face, which hides the far one in a turn
        for side in (-1, 1):
            ear_x, _ = turned(side * 0.97 * width, width, pose.yaw)
            head.ellipse(ear_x, 0.02, (0.3 * width, 0.22 * height), neck)
    head.ellipse(0, 0, (width, height), face.skin)
    if face.hair_style in (1, 2, 3):
        head.ellipse(0, -0.3 * height, (1.04 * width, 0.78 * height), face.hair, arc=(180, 360))
    if face.hair_style == 3:
        head.polygon([(-0.9 * width, -0.32 * height), (0.9 * width, -0.32 * height),
                      (0.2 * width, -0.12 * height)], face.hair)  # fmt: skip
    _draw_eyes(head, face, pose.eyes_open, pose.yaw)
    _draw_nose(head, face, pose.yaw)
    _draw_mouth(head, face, pose.mouth_open, pose.yaw)
    return canvas
