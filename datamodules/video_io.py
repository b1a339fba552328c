"""Read frames from any video the FOMM datasets use: one entry point for every format.

Supported kinds (as the official FOMM loader accepts them):

- ``video``: ``.mp4``, ``.mov`` and other files FFmpeg demuxes, read by seeking
  (:class:`~datamodules.pyav_source.PyAVSource`): taking two frames of a
  1000-frame video decodes a few dozen frames, not the whole file.
- ``gif``: animated gifs.
- ``frames``: a folder of ``.png``/``.jpg`` frames, in natural name order.
- ``strip``: one ``.png``/``.jpg`` with the frames side by side (the ``*-png``
  datasets); the frame width comes from ``frame_size`` (square frames when omitted).

Frames are returned as RGB ``uint8`` arrays ``(N, H, W, 3)``.

Example:
    >>> from datamodules.video_io import open_video, read_frames, read_video
    >>> pair = read_frames("taichi/train/abc#001.mp4", [17, 412])  # (2, 256, 256, 3)
    >>> clip = read_video("vox/test/id10280#xyz.png", frame_size=(256, 256))  # all frames
    >>> with open_video("clip.mp4") as video:  # several reads, one open container
    ...     n = video.meta.num_frames
    ...     first, last = video.read([0]), video.read([n - 1])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from datamodules.frame_sources import (
    STRIP_EXTENSIONS,
    FrameSource,
    GifSource,
    ImageFolderSource,
    StripSource,
    UnreadableVideoError,
    VideoMeta,
)
from datamodules.pyav_source import PyAVSource

__all__ = [
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "UnreadableVideoError",
    "VideoMeta",
    "open_video",
    "probe_video",
    "read_frames",
    "read_video",
    "video_kind",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm")


def video_kind(path: str | os.PathLike) -> str | None:
    """Tell how a dataset item stores its frames: ``video``, ``gif``, ``frames``, ``strip``.

    Returns:
        The kind, or None for files that are not video items (csv, txt, hidden files).
    """
    path = Path(path)
    if path.name.startswith("."):
        return None
    if path.is_dir():
        return "frames"
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix == ".gif":
        return "gif"
    if suffix in STRIP_EXTENSIONS:
        return "strip"
    return None


def open_video(
    path: str | os.PathLike,
    meta: VideoMeta | None = None,
    frame_size: tuple[int, int] | None = None,
    threads: int = 1,
) -> FrameSource:
    """Open a video item of any kind for reading frames by index.

    Args:
        path: the file or frame folder.
        meta: cached metadata (skips probing), or None.
        frame_size: ``(height, width)`` of one frame; used to cut strips (default: square).
        threads: decoder threads for PyAV videos.

    Returns:
        A :class:`FrameSource`; use it as a context manager, or call ``close()``.

    Raises:
        UnreadableVideoError: the path does not exist or is of no supported kind.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableVideoError(path, "no such file or folder")
    kind = meta.kind if meta is not None else video_kind(path)
    if kind == "video":
        return PyAVSource(path, meta, threads=threads)
    if kind == "gif":
        return GifSource(path, meta)
    if kind == "frames":
        return ImageFolderSource(path, meta)
    if kind == "strip":
        return StripSource(path, meta, frame_width=frame_size[1] if frame_size else None)
    raise UnreadableVideoError(
        path,
        f"unsupported kind of video (extensions: {', '.join(VIDEO_EXTENSIONS)}, .gif, "
        f"{', '.join(STRIP_EXTENSIONS)} strips, or a folder of frames)",
    )


def probe_video(path: str | os.PathLike, frame_size: tuple[int, int] | None = None) -> VideoMeta:
    """Read a video's metadata (frame count, size, fps, timestamps) without decoding frames.

    A bad file does not raise: its metadata carries ``error`` (why it is unusable),
    so the caller can cache that verdict and skip the file with one warning.
    """
    try:
        source = open_video(path, frame_size=frame_size)
    except UnreadableVideoError as error:
        return VideoMeta(kind=video_kind(path) or "unknown", error=error.reason)
    with source:
        return source.probe()


def read_frames(
    path: str | os.PathLike,
    indices: Sequence[int],
    meta: VideoMeta | None = None,
    frame_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read the frames at ``indices`` (any order, repeats allowed) as ``(N, H, W, 3)`` uint8.

    Raises:
        UnreadableVideoError: the file, or a frame of it, cannot be decoded.
        IndexError: an index is outside the video.
    """
    with open_video(path, meta, frame_size) as source:
        return source.read(indices)


def read_video(
    path: str | os.PathLike,
    start: int = 0,
    stop: int | None = None,
    step: int = 1,
    meta: VideoMeta | None = None,
    frame_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Read the frame range ``start:stop:step`` (the whole video by default) as uint8.

    Frames are decoded once, in order; a range that starts late in a long video seeks
    to it first.
    """
    with open_video(path, meta, frame_size) as source:
        indices = range(source.meta.num_frames)[start:stop:step]
        return source.read(list(indices))


def sample_indices(num_frames: int, frames_per_video: int | None) -> list[int]:
    """``frames_per_video`` frame indices spread evenly from the first to the last frame.

    Videos shorter than that give all their frames; None takes every frame.
    """
    if num_frames <= 0:
        return []
    if frames_per_video is None or frames_per_video >= num_frames:
        return list(range(num_frames))
    if frames_per_video < 1:
        raise ValueError(f"frames_per_video must be >= 1 or null, got {frames_per_video}")
    return np.unique(np.linspace(0, num_frames - 1, frames_per_video).round().astype(int)).tolist()
