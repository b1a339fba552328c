"""What the bitrate study measures: keypoint jitter and speed, stream bitrate, PSNR.

Small pure functions of arrays and files, apart from the study so that other studies
and notebooks can measure the same way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
import numpy as np
from scipy.ndimage import gaussian_filter1d


def keypoint_jitter(trajectory: np.ndarray, sigma: float, size: int) -> float:
    """High-frequency keypoint motion: the trajectory minus its smoothed self, in pixels.

    Args:
        trajectory: ``(T, K, 2)`` keypoints in [-1, 1].
        sigma: standard deviation, in frames, of the Gaussian that smooths it along time.
        size: frame side in pixels (the coordinates span ``size`` pixels).

    Returns:
        The mean Euclidean distance between each keypoint and its smoothed position,
        over keypoints and frames; NaN for fewer than 2 frames. Head motion slower than a
        few frames survives the smoothing; codec flicker and detector noise do not.
    """
    if len(trajectory) < 2:
        return math.nan
    smooth = gaussian_filter1d(trajectory.astype(np.float64), sigma, axis=0, mode="nearest")
    return float(np.linalg.norm(trajectory - smooth, axis=-1).mean() * size / 2)


def keypoint_speed(trajectory: np.ndarray, size: int) -> float:
    """Mean frame-to-frame keypoint displacement in pixels (NaN for one frame)."""
    if len(trajectory) < 2:
        return math.nan
    return float(np.linalg.norm(np.diff(trajectory, axis=0), axis=-1).mean() * size / 2)


def video_stream_bitrate(path: str | os.PathLike, frames: int, fps: float) -> float:
    """Bits per second spent on the video stream (packet sizes over the duration).

    NaN for what is not a container file (a gif, a folder of frames) or has no frames.
    """
    if not frames or not Path(path).is_file():
        return math.nan
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            total = sum(packet.size for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError):
        return math.nan
    return total * 8 / (frames / fps)


def psnr(mse: float) -> float:
    """PSNR in dB of frames in [0, 1]; NaN for identical frames (nothing re-encoded)."""
    return math.nan if mse == 0 else 10 * math.log10(1.0 / mse)
