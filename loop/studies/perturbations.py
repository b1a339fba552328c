"""Perturbations a video meets on its way to a detector: resizing, rotation, blur, noise, codecs.

The robustness study applies each one at a list of strengths to whole videos
before face extraction, the way a re-uploaded or re-encoded deepfake reaches a
forensic analyst; the sweep config names them with ``_target_`` (``_partial_: true``).
Every function takes and returns ``(N, H, W, 3)`` uint8 RGB frames, is
deterministic (noise is seeded), and leaves frames untouched at its neutral
strength, so a sweep's first point is the clean baseline.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from datamodules.video_writer import write_video


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"perturbations take (N, H, W, 3) uint8 RGB frames, got {frames.shape} {frames.dtype}"
        )
    return frames


def downscale(frames: np.ndarray, factor: float) -> np.ndarray:
    """Shrink frames by ``factor`` (1 keeps them; 0.25 is a quarter of the width and height).

    The result stays small, as a re-uploaded low-resolution copy would: the face
    extractor and the detector's resize then see the lost detail.
    """
    frames = _check_frames(frames)
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1], got {factor}")
    if factor == 1:
        return frames
    height, width = frames.shape[1:3]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def rotate(frames: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate frames about their centre by ``degrees`` (counter-clockwise), black corners."""
    frames = _check_frames(frames)
    if degrees == 0:
        return frames
    height, width = frames.shape[1:3]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return np.stack(
        [
            cv2.warpAffine(f, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
            for f in frames
        ]
    )


def gaussian_blur(frames: np.ndarray, sigma: float) -> np.ndarray:
    """Blur with a Gaussian of standard deviation ``sigma`` pixels (kernel of 6 sigma)."""
    frames = _check_frames(frames)
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return frames
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigmaX=sigma) for f in frames])


def gaussian_noise(frames: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """Add zero-mean Gaussian noise of ``std`` grey levels (0-255 scale), clipped."""
    frames = _check_frames(frames)
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    if std == 0:
        return frames
    noise = np.random.default_rng(seed).normal(0.0, std, frames.shape)
    return np.clip(frames.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Compress every frame as a JPEG of ``quality`` (1-100; 100 is left untouched)."""
    frames = _check_frames(frames)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    if quality == 100:
        return frames
    out = []
    for frame in frames:
        ok, buffer = cv2.imencode(
            ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
        )
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG frame")
        out.append(cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def h264(frames: np.ndarray, bitrate: float, fps: float = 25.0) -> np.ndarray:
    """Re-encode the frames as H.264 at ``bitrate`` bits per second and decode them back.

    ``bitrate`` 0 means no re-encoding. The frame count is kept; odd sizes come
    back cropped to the original size after the encoder's even-size padding.
    """
    frames = _check_frames(frames)
    if bitrate < 0:
        raise ValueError(f"bitrate must be >= 0, got {bitrate}")
    if bitrate == 0:
        return frames
    height, width = frames.shape[1:3]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_video(Path(tmp) / "reencoded.mp4", frames, fps, bitrate=int(bitrate))
        with av.open(str(path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(decoded)[:, :height, :width]


def perturb(
    fn: Callable[..., np.ndarray], frames: np.ndarray, strength: float, fps: float
) -> np.ndarray:
    """Call a perturbation, passing the video's frame rate to those that use one.

    Only codec perturbations care about the frame rate (a bitrate is bits per
    second); the others take just frames and strength.
    """
    if "fps" in inspect.signature(fn).parameters:
        return fn(frames, strength, fps=fps)
    return fn(frames, strength)
