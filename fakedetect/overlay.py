"""Attention overlays: where EfficientNetAutoAttB4 looks, drawn over the face crops.

The attention gate of the paper's attention models gives a map in [0, 1] at 1/8 of the
input size (28x28 at 224 px) that multiplies the features; shown as a heat map over the
crop it tells an analyst which regions drove the verdict (the paper's Fig. 4).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from scipy.special import expit

from datamodules.video_writer import write_video


def overlay_attention(crop: np.ndarray, attention: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a JET heat map of ``attention`` (h, w in [0, 1]) over an RGB crop."""
    height, width = crop.shape[:2]
    resized = cv2.resize(
        attention.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
    )
    heat = cv2.applyColorMap(np.uint8(np.clip(resized, 0, 1) * 255), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop, 1.0 - alpha, heat, alpha, 0.0)


def _caption_bar(width: int, text: str, height: int = 22) -> np.ndarray:
    """A black strip with white text, to go under the panels."""
    bar = np.zeros((height, width, 3), np.uint8)
    scale = 0.45
    cv2.putText(
        bar, text, (4, height - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
    )
    return bar


def _fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Scale the longer side to ``size`` and pad with black (tight crops)."""
    ratio = size / max(image.shape[:2])
    resized = cv2.resize(image, (round(image.shape[1] * ratio), round(image.shape[0] * ratio)))
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    out[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    return out


def attention_panel(crop: np.ndarray, attention: np.ndarray, caption: str, size: int) -> np.ndarray:
    """The crop beside its attention overlay, each ``size`` square, with a caption below.

    Args:
        crop: an RGB uint8 face crop.
        attention: its ``(h, w)`` map in [0, 1].
        caption: the text under the pair.
        size: side of each of the two panels.

    Returns:
        ``(size + 22, 2 * size, 3)`` uint8 RGB.
    """
    face = _fit_square(crop, size)
    pair = np.concatenate([face, overlay_attention(face, attention)], axis=1)
    return np.concatenate([pair, _caption_bar(pair.shape[1], caption)], axis=0)


def write_attention_video(
    path: str | os.PathLike,
    crops: Sequence[np.ndarray],
    attention: np.ndarray,
    frames: Sequence[int],
    logits: Sequence[float],
    fps: float = 4.0,
    size: int = 224,
) -> Path:
    """Write an mp4: per scored face, the crop beside its attention overlay, with a caption.

    Args:
        path: the mp4 to write.
        crops: RGB face crops.
        attention: ``(N, h, w)`` maps in [0, 1], one per crop.
        frames: the video frame of each crop (for the caption).
        logits: the face logit of each crop (for the caption).
        fps: playback rate of the overlay video.
        size: side of each panel.
    """
    panels = [
        attention_panel(crop, heat, f"frame {frame}  p(fake) {float(expit(logit)):.2f}", size)
        for crop, heat, frame, logit in zip(crops, attention, frames, logits, strict=True)
    ]
    return write_video(path, np.stack(panels), fps=fps)
