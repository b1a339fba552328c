"""Frame sources: one object per video that hands out frames by index.

A FOMM dataset stores a video as an mp4/mov file, a gif, a folder of frame images,
or one png/jpg strip with the frames side by side. Each kind gets a
:class:`FrameSource` with the same two operations (``meta`` and ``read``), so the
datasets never branch on the storage format. The PyAV-backed source lives in
:mod:`datamodules.pyav_source`; this module holds the shared types and the
image-based kinds.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

FRAME_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
STRIP_EXTENSIONS = (".png", ".jpg", ".jpeg")


class UnreadableVideoError(Exception):
    """A video (or one file of it) cannot be used.

    Args:
        path: the file at fault: the video, or the one frame image of a folder that is bad.
        reason: what is wrong and, where it helps, how to fix it.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass
class VideoMeta:
    """What a training epoch needs to know about a video without opening it.

    Attributes:
        kind: ``video`` (PyAV), ``gif``, ``frames`` (a folder) or ``strip``.
        num_frames: frames the video holds (0 when ``error`` is set).
        height: frame height in pixels.
        width: frame width in pixels (one frame of a strip, not the whole image).
        fps: frames per second where the format stores it, else None.
        pts_start: presentation timestamp of frame 0 (``video`` only), in stream time base.
        pts_step: timestamp increment per frame when the frames are evenly spaced.
        pts: every frame's timestamp in display order, kept only when they are not evenly
            spaced (variable frame rate), so the cache stays small for ordinary files.
        keyframes: indices of the frames a decoder can start from (``video`` only).
        error: why probing failed; kept so a bad file is not probed again every run.
    """

    kind: str
    num_frames: int = 0
    height: int = 0
    width: int = 0
    fps: float | None = None
    pts_start: int | None = None
    pts_step: int | None = None
    pts: list[int] | None = None
    keyframes: list[int] | None = None
    error: str | None = None

    @classmethod
    def from_timestamps(
        cls, pts: Sequence[int], keyframe_pts: Sequence[int], **fields: Any
    ) -> VideoMeta:
        """Build the metadata of a PyAV video from its packet timestamps (any order)."""
        ordered = np.unique(np.asarray(pts, dtype=np.int64))
        keyframes = np.searchsorted(ordered, np.asarray(keyframe_pts, dtype=np.int64))
        steps = np.diff(ordered)
        regular = len(ordered) > 1 and bool((steps == steps[0]).all())
        return cls(
            num_frames=len(ordered),
            pts_start=int(ordered[0]),
            pts_step=int(steps[0]) if regular else None,
            pts=None if regular or len(ordered) == 1 else ordered.tolist(),
            keyframes=sorted({int(k) for k in keyframes}),
            **fields,
        )

    def frame_pts(self, index: int) -> int:
        """Presentation timestamp of frame ``index`` (``video`` only)."""
        if self.pts is not None:
            return self.pts[index]
        return self.pts_start + index * (self.pts_step or 0)

    def index_of_pts(self, pts: int) -> int:
        """Index of the first frame shown at or after ``pts``."""
        if self.pts is not None:
            return bisect_left(self.pts, pts)
        if not self.pts_step:
            return 0 if pts <= self.pts_start else 1
        return max(0, -(-(pts - self.pts_start) // self.pts_step))

    def keyframe_before(self, index: int) -> int:
        """Index of the last keyframe at or before frame ``index`` (0 when unknown)."""
        if not self.keyframes:
            return 0
        position = bisect_right(self.keyframes, index) - 1
        return self.keyframes[max(position, 0)]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-friendly dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoMeta:
        """Inverse of :meth:`to_json`."""
        return cls(**data)


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``.

    Why: zero-padded names (the FOMM datasets) sort the same either way, but frames
    a user dumped as ``1.png ... 120.png`` would otherwise be shuffled.
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_image(path: Path) -> np.ndarray:
    """Decode an image file to RGB uint8, raising :class:`UnreadableVideoError` on failure.

    OpenCV's own error lines are silenced while decoding: a bad file is reported once, by
    the dataset's skip warning, not on every read of it.
    """
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    finally:
        logging.setLogLevel(previous)
    if image is None:
        raise UnreadableVideoError(path, "the image cannot be decoded (corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path: Path) -> tuple[int, int]:
    """Return ``(height, width)`` from the image header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as error:
        raise UnreadableVideoError(path, f"the image header cannot be read ({error})") from error
    return height, width


class FrameSource(ABC):
    """Random access to the frames of one video.

    Args:
        path: the video file or frame folder.
        meta: its metadata if already known (from the cache); probed on first use otherwise.
    """

    kind: str = ""

    def __init__(self, path: str | os.PathLike, meta: VideoMeta | None = None) -> None:
        self.path = Path(path)
        self._meta = meta

    @property
    def meta(self) -> VideoMeta:
        """The video's metadata (probed once if it was not given)."""
        if self._meta is None:
            self._meta = self.probe()
        if self._meta.error:
            raise UnreadableVideoError(self.path, self._meta.error)
        return self._meta

    @abstractmethod
    def probe(self) -> VideoMeta:
        """Read the metadata from the file (cheaply: headers and packet tables, no decoding)."""

    @abstractmethod
    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        """Return the frames at increasing, distinct ``indices`` as RGB uint8 arrays."""

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Return the frames at ``indices`` (any order, repeats allowed) as ``(N, H, W, 3)`` uint8.

        Raises:
            UnreadableVideoError: the file, or a frame of it, cannot be decoded.
            IndexError: an index is outside ``[0, num_frames)``.
        """
        wanted = [int(i) for i in indices]
        num_frames = self.meta.num_frames
        for index in wanted:
            if not 0 <= index < num_frames:
                raise IndexError(f"{self.path}: frame {index} requested, video has {num_frames}")
        order = sorted(set(wanted))
        frames = dict(zip(order, self._read_sorted(order), strict=True))
        return np.stack([frames[i] for i in wanted]) if wanted else self._empty()

    def _empty(self) -> np.ndarray:
        meta = self.meta
        return np.zeros((0, meta.height, meta.width, 3), dtype=np.uint8)

    def close(self) -> None:  # noqa: B027  (image-based sources hold no open files)
        """Release open files; the source reopens them if read again."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ImageFolderSource(FrameSource):
    """A folder with one image per frame, in natural name order."""

    kind = "frames"

    def _frame_files(self) -> list[Path]:
        try:
            names = [
                name
                for name in os.listdir(self.path)
                if name.lower().endswith(FRAME_IMAGE_EXTENSIONS) and not name.startswith(".")
            ]
        except OSError as error:
            raise UnreadableVideoError(self.path, f"cannot list the folder ({error})") from error
        return [self.path / name for name in sorted(names, key=natural_key)]

    def probe(self) -> VideoMeta:  # noqa: D102
        files = self._frame_files()
        if not files:
            return VideoMeta(
                kind=self.kind, error=f"no frame images ({', '.join(FRAME_IMAGE_EXTENSIONS)})"
            )
        try:
            height, width = image_size(files[0])
        except UnreadableVideoError as error:
            return VideoMeta(kind=self.kind, error=f"first frame {files[0].name}: {error.reason}")
        return VideoMeta(kind=self.kind, num_frames=len(files), height=height, width=width)

    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        files = self._frame_files()
        expected = (self.meta.height, self.meta.width)
        if len(files) <= indices[-1]:
            raise UnreadableVideoError(
                self.path, f"holds {len(files)} frames now, {self.meta.num_frames} when probed"
            )
        frames = []
        for index in indices:
            frame = load_image(files[index])
            if frame.shape[:2] != expected:
                raise UnreadableVideoError(
                    files[index],
                    f"frame size {frame.shape[1]}x{frame.shape[0]} differs from the folder's "
                    f"first frame {expected[1]}x{expected[0]}; re-extract this frame",
                )
            frames.append(frame)
        return frames


class StripSource(FrameSource):
    """One png/jpg with the frames concatenated horizontally (the FOMM ``*-png`` datasets).

    Args:
        path: the strip image.
        meta: known metadata, or None.
        frame_width: width of one frame; None means square frames (width = image height).
    """

    kind = "strip"

    def __init__(
        self, path: str | os.PathLike, meta: VideoMeta | None = None, frame_width: int | None = None
    ) -> None:
        super().__init__(path, meta)
        self.frame_width = frame_width

    def probe(self) -> VideoMeta:  # noqa: D102
        try:
            height, total_width = image_size(self.path)
        except UnreadableVideoError as error:
            return VideoMeta(kind=self.kind, error=error.reason)
        width = self.frame_width or height
        if total_width % width:
            return VideoMeta(
                kind=self.kind,
                error=(
                    f"strip width {total_width} is not a multiple of the frame width {width}; "
                    "set frame_shape to the size of one frame"
                ),
            )
        return VideoMeta(
            kind=self.kind, num_frames=total_width // width, height=height, width=width
        )

    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        # PNG and JPEG cannot be decoded in parts, so the strip is decoded once per read.
        image = load_image(self.path)
        meta = self.meta
        if image.shape[0] != meta.height or image.shape[1] != meta.width * meta.num_frames:
            raise UnreadableVideoError(
                self.path, f"image size {image.shape[1]}x{image.shape[0]} changed since probing"
            )
        return [image[:, i * meta.width : (i + 1) * meta.width].copy() for i in indices]


class GifSource(FrameSource):
    """An animated gif, decoded with Pillow (which composes partial frames correctly)."""

    kind = "gif"

    def probe(self) -> VideoMeta:  # noqa: D102
        try:
            with Image.open(self.path) as image:
                width, height = image.size
                num_frames = getattr(image, "n_frames", 1)
                duration = image.info.get("duration")
        except (OSError, UnidentifiedImageError) as error:
            return VideoMeta(kind=self.kind, error=f"not a readable gif ({error})")
        fps = 1000.0 / duration if duration else None
        return VideoMeta(kind=self.kind, num_frames=num_frames, height=height, width=width, fps=fps)

    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        frames = []
        try:
            with Image.open(self.path) as image:
                for index in indices:
                    image.seek(index)
                    frames.append(np.asarray(image.convert("RGB")))
        except (OSError, EOFError, UnidentifiedImageError) as error:
            raise UnreadableVideoError(self.path, f"gif decoding failed ({error})") from error
        return frames
