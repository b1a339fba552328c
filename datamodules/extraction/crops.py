"""From a video to face crops: even frame sampling, detection, the paper's two crop policies.

The margins and policies follow the official ICPR 2020 code (polimi-ispl/icpr2020dfdc):

- margin (``blazeface/face_extract.py``, ``_add_margin_to_detections``): the detector box
  grows by ``round(0.2 * box height)`` on the left, right and bottom and by twice that on
  the top, "because face detections often do not include the forehead"; the result is
  clipped to the frame.
- ``scale`` (``isplutils/utils.py``, ``extract_bb``): a square whose side is the longer
  side of the margin box, centred on it, resized to ``size`` x ``size`` (224 in the paper).
- ``tight``: the margin box itself, aspect kept; the data loader later scales its longer
  side to ``size`` and pads the rest with black (the paper's ``LongestMaxSize`` +
  ``PadIfNeeded``). Here the crop is already scaled so its longer side is ``size``.

One difference at the frame border: the official code moves a ``scale`` square that
crosses the top or left edge back inside the frame but cuts one crossing the bottom or
right edge (and then stretches it to a square). Here the square is moved inside the frame
on every side and padded with black only when it is larger than the frame, so a face is
never stretched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

from datamodules.face_detection import Face, FaceDetector
from datamodules.video_io import open_video, sample_indices

POLICIES = ("scale", "tight")
MARGIN = 0.2


def jpeg_params(quality: int) -> list[int]:
    """OpenCV JPEG options: the quality, and 4:4:4 chroma as the official code saves faces."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if hasattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR"):
        params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    return params


def check_policy(policy: str) -> str:
    """Return ``policy`` if it is a known crop policy, else raise a clear error."""
    if policy not in POLICIES:
        raise ValueError(f"face policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    return policy


def box_with_margin(
    box: tuple[float, float, float, float], frame_size: tuple[int, int], margin: float = MARGIN
) -> tuple[int, int, int, int]:
    """Grow a detector box by the paper's margins and clip it to the frame.

    Args:
        box: (left, top, right, bottom) of the detector, frame pixels.
        frame_size: (height, width) of the frame.
        margin: fraction of the box height added left, right and below; twice above.

    Returns:
        Integer (left, top, right, bottom), inside the frame and at least one pixel wide.
    """
    height, width = frame_size
    left, top, right, bottom = box
    offset = round(margin * (bottom - top))
    new_left = int(np.clip(round(left - offset), 0, width - 1))
    new_top = int(np.clip(round(top - 2 * offset), 0, height - 1))
    new_right = int(np.clip(round(right + offset), new_left + 1, width))
    new_bottom = int(np.clip(round(bottom + offset), new_top + 1, height))
    return new_left, new_top, new_right, new_bottom


def square_around(
    box: tuple[int, int, int, int], frame_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The square with the box's longer side, centred on it, moved inside the frame.

    The square may still exceed the frame when its side is larger than the frame; the
    crop is then padded.
    """
    height, width = frame_size
    left, top, right, bottom = box
    side = max(right - left, bottom - top)
    center_x, center_y = (left + right) / 2, (top + bottom) / 2
    new_left = round(center_x - side / 2)
    new_top = round(center_y - side / 2)
    new_left = min(max(new_left, 0), max(width - side, 0)) if side <= width else new_left
    new_top = min(max(new_top, 0), max(height - side, 0)) if side <= height else new_top
    return new_left, new_top, new_left + side, new_top + side


def _cut(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Copy ``box`` out of the frame, padding with black where it leaves the frame."""
    left, top, right, bottom = box
    height, width = frame.shape[:2]
    out = np.zeros((bottom - top, right - left, 3), dtype=frame.dtype)
    src_left, src_top = max(left, 0), max(top, 0)
    src_right, src_bottom = min(right, width), min(bottom, height)
    if src_right > src_left and src_bottom > src_top:
        out[src_top - top : src_bottom - top, src_left - left : src_right - left] = frame[
            src_top:src_bottom, src_left:src_right
        ]
    return out


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def crop_face(
    frame: np.ndarray,
    box: tuple[float, float, float, float],
    policy: str = "scale",
    size: int = 224,
    margin: float = MARGIN,
) -> np.ndarray:
    """Cut one face out of a frame by a crop policy.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB frame.
        box: the detector's (left, top, right, bottom) in frame pixels.
        policy: ``scale`` (square, ``size`` x ``size``) or ``tight`` (the margin box,
            aspect kept, longer side ``size``).
        size: output size in pixels (the network input side, 224 in the paper).
        margin: see :func:`box_with_margin`.

    Returns:
        The crop, uint8 RGB.
    """
    check_policy(policy)
    if size < 8:
        raise ValueError(f"face crop size must be at least 8 pixels, got {size}")
    region = box_with_margin(box, frame.shape[:2], margin)
    if policy == "scale":
        return _resize(_cut(frame, square_around(region, frame.shape[:2])), size, size)
    crop = _cut(frame, region)
    ratio = size / max(crop.shape[:2])
    out_w = max(1, round(crop.shape[1] * ratio))
    out_h = max(1, round(crop.shape[0] * ratio))
    return _resize(crop, out_w, out_h)


@dataclass
class CropSettings:
    """How faces become crops; a resumed extraction must use the same settings.

    Attributes:
        frames_per_video: frames sampled per video (null: all).
        policy: ``scale`` or ``tight`` (:func:`datamodules.extraction.crops.crop_face`).
        size: crop side (scale) or longer side (tight), pixels.
        margin: the paper's box margin (fraction of the box height).
        faces_per_frame: most confident faces kept per frame (null: all).
    """

    frames_per_video: int | None = 32
    policy: str = "scale"
    size: int = 224
    margin: float = MARGIN
    faces_per_frame: int | None = 1

    def __post_init__(self) -> None:
        check_policy(self.policy)
        if self.faces_per_frame is not None and self.faces_per_frame < 1:
            raise ValueError(f"faces_per_frame must be >= 1 or null, got {self.faces_per_frame}")
        if self.frames_per_video is not None and self.frames_per_video < 1:
            raise ValueError(f"frames_per_video must be >= 1 or null, got {self.frames_per_video}")

    @classmethod
    def split_options(cls, options: Mapping[str, Any]) -> tuple[CropSettings, dict[str, Any]]:
        """The crop settings among a command's flat options, and the options left over.

        Why: configs keep the crop options flat, as users type them
        (``data.extract.size=64``, ``scorer.policy=tight``); the code takes them as one
        :class:`CropSettings`.
        """
        names = {field.name for field in fields(cls)}
        crop = cls(**{key: value for key, value in options.items() if key in names})
        return crop, {key: value for key, value in options.items() if key not in names}


@dataclass
class VideoFaces:
    """The faces of one video, in memory.

    Attributes:
        frames: the sampled frame indices.
        faces: per sampled frame, the kept faces (most confident first).
        crops: per sampled frame, the crop of each kept face (uint8 RGB).
        num_frames: frames in the video.
        frame_size: (height, width).
    """

    frames: list[int]
    faces: list[list[Face]]
    crops: list[list[np.ndarray]]
    num_frames: int
    frame_size: tuple[int, int]

    @property
    def frames_with_face(self) -> int:
        """Sampled frames where at least one face was found."""
        return sum(1 for faces in self.faces if faces)


def faces_of_video(
    path: str | os.PathLike,
    detector: FaceDetector,
    settings: CropSettings,
    decode_threads: int = 1,
) -> VideoFaces:
    """Read the sampled frames of one video, detect and crop their faces (nothing written).

    Raises:
        UnreadableVideoError: the video cannot be opened or decoded.
    """
    with open_video(path, threads=decode_threads) as source:
        meta = source.meta
        indices = sample_indices(meta.num_frames, settings.frames_per_video)
        frames = source.read(indices)
    return faces_of_frames(frames, indices, detector, settings, meta.num_frames)


def faces_of_frames(
    frames: np.ndarray,
    indices: list[int],
    detector: FaceDetector,
    settings: CropSettings,
    num_frames: int | None = None,
) -> VideoFaces:
    """Detect and crop the faces of already decoded ``(N, H, W, 3)`` RGB frames."""
    detected = detector.detect(frames) if len(frames) else []
    kept = [faces[: settings.faces_per_frame] for faces in detected]
    crops = [
        [
            crop_face(frame, face.box, settings.policy, settings.size, settings.margin)
            for face in faces
        ]
        for frame, faces in zip(frames, kept, strict=True)
    ]
    frame_size = tuple(frames.shape[1:3]) if len(frames) else (0, 0)
    return VideoFaces(list(indices), kept, crops, num_frames or len(frames), frame_size)
