"""User inputs of the FOMM tools: image loading, videos, and fitting frames to the model.

Users hand the animation, cropping and evaluation commands photos and videos of any size,
aspect and format. Everything that can go wrong with those files is reported as one
:class:`~datamodules.command_errors.InputError` whose message names the file and the fix,
and the command-line entry points print just that message (no traceback) and exit non-zero.

Fitting to the model's square input (``fit``):
    ``center_crop`` (default) keeps the central square and resizes it, so faces are never
    stretched; ``resize`` ignores the aspect ratio exactly as the official ``demo.py``
    does (identical to ``center_crop`` for square inputs); ``pad`` letterboxes with black
    so nothing is cut (useful for full-body videos). Face-cropping (``fomm.crop``) is the
    better choice for raw footage: FOMM was trained on square face crops.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from datamodules.command_errors import InputError
from datamodules.video_io import FrameSource, UnreadableVideoError, open_video
from datamodules.video_writer import as_fraction

log = logging.getLogger(__name__)

FIT_MODES = ("center_crop", "resize", "pad")
# Official checkpoints are named like vox-cpk.pth.tar, with the config yaml beside or apart.
OFFICIAL_SUFFIXES = (".pth.tar", ".pth", ".tar", ".pt")
# Frame folders and strips store no frame rate; this is the FOMM datasets' usual one.
FALLBACK_FPS = Fraction(25)


def require_file(path: str | os.PathLike | None, what: str, option: str) -> Path:
    """Return ``path`` as a Path, or raise an :class:`InputError` saying which option to fix.

    Args:
        path: the value the user gave.
        what: what the file is, in words ("source image").
        option: the command-line key that sets it ("source_image").
    """
    if path in (None, "", "null"):
        raise InputError(f"no {what} given; pass {option}=PATH")
    resolved = Path(str(path)).expanduser()
    if not resolved.exists():
        raise InputError(f"{what} {resolved} does not exist; check {option}=")
    if not resolved.is_file():
        raise InputError(f"{what} {resolved} is not a file; pass a file with {option}=")
    return resolved


def open_input_video(path: str | os.PathLike | None, option: str = "driving_video") -> FrameSource:
    """Open a user's video (mp4/mov/..., gif, or a folder of frames) and check it has frames.

    Raises:
        InputError: the path is missing, of no supported kind, unreadable, or empty.
    """
    if path in (None, "", "null"):
        raise InputError(f"no video given; pass {option}=PATH")
    resolved = Path(str(path)).expanduser()
    if not resolved.exists():
        raise InputError(f"video {resolved} does not exist; check {option}=")
    try:
        source = open_video(resolved)
        meta = source.meta
    except UnreadableVideoError as error:
        raise InputError(
            f"video {resolved} cannot be read ({error.reason}); re-encode it "
            f"(ffmpeg -i IN -c:v libx264 OUT.mp4) or check {option}="
        ) from error
    if meta.num_frames < 1:
        source.close()
        raise InputError(f"video {resolved} holds no frames; pass another video with {option}=")
    return source


def video_fps(source: FrameSource) -> Fraction:
    """The video's exact frame rate, or 25 fps for formats that store none (frame folders)."""
    if not source.meta.fps:
        log.warning("%s stores no frame rate; using %s fps", source.path, FALLBACK_FPS)
        return FALLBACK_FPS
    return as_fraction(source.meta.fps)


def iter_chunks(
    source: FrameSource, chunk_size: int, indices: range | None = None
) -> Iterator[tuple[range, np.ndarray]]:
    """Yield ``(indices, frames)`` chunks of a video in order, decoding it once.

    Raises:
        InputError: a frame cannot be decoded (a truncated or corrupt file).
    """
    indices = range(source.meta.num_frames) if indices is None else indices
    for start in range(0, len(indices), chunk_size):
        part = indices[start : start + chunk_size]
        try:
            yield part, source.read(list(part))
        except UnreadableVideoError as error:
            raise InputError(
                f"video {source.path} cannot be decoded at frames {part.start}-{part.stop - 1}: "
                f"{error.reason}"
            ) from error


def load_image(path: str | os.PathLike, option: str = "source_image") -> np.ndarray:
    """Read an image as ``(H, W, 3)`` uint8 RGB.

    EXIF orientation is applied (phone photos are otherwise sideways); alpha and
    palettes are dropped; grey images become RGB.

    Raises:
        InputError: the file is missing or is not an image PIL can read.
    """
    file = require_file(path, "image", option)
    try:
        with Image.open(file) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(
            f"{file} is not a readable image ({error}); pass a PNG or JPEG with {option}="
        ) from error


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (width, height), interpolation=interpolation)


def fit_frame(image: np.ndarray, size: int, mode: str = "center_crop") -> np.ndarray:
    """Bring one ``(H, W, 3)`` uint8 frame to ``(size, size, 3)`` (see module docstring)."""
    if mode not in FIT_MODES:
        raise InputError(f"fit={mode} is not one of {', '.join(FIT_MODES)}")
    height, width = image.shape[:2]
    if mode == "center_crop" and height != width:
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
    elif mode == "pad" and height != width:
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        image = cv2.copyMakeBorder(
            image, top, side - height - top, left, side - width - left, cv2.BORDER_CONSTANT
        )
    if image.shape[:2] == (size, size):
        return np.ascontiguousarray(image)
    return _resize(np.ascontiguousarray(image), size, size)


def fit_frames(frames: np.ndarray, size: int, mode: str = "center_crop") -> np.ndarray:
    """Fit a ``(T, H, W, 3)`` uint8 stack of frames to ``(T, size, size, 3)`` uint8."""
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for index, frame in enumerate(frames):
        out[index] = fit_frame(frame, size, mode)
    return out


def warn_if_not_square(shape: tuple[int, ...], name: str, mode: str) -> None:
    """Log a hint when a far-from-square input is fitted without face cropping."""
    height, width = shape[:2]
    if max(height, width) > 1.2 * min(height, width):
        cut = {"center_crop": "cut to its central square", "resize": "stretched", "pad": "padded"}
        log.warning(
            "%s is %dx%d and will be %s (fit=%s); FOMM expects square face crops, "
            "consider crop_source=true / crop_driving=true or python -m fomm.crop",
            name,
            width,
            height,
            cut[mode],
            mode,
        )


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 -> ``(T, 3, H, W)`` float32 in [0, 1] (what the networks take)."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def load_model(
    checkpoint: str | os.PathLike | None,
    config: str | os.PathLike | None,
    device: torch.device | str = "cpu",
    trust_pickle: bool = False,
) -> torch.nn.Module:
    """Load an FOMM or TPSMM checkpoint for inference, with one clear message for every mistake.

    Args:
        checkpoint: an official ``*.pth.tar`` (needs ``config``, or ``<name>.yaml`` beside
            it) or a Lightning ``.ckpt`` of this project (its config is inside).
        config: the official yaml of an official checkpoint.
        device: where to put the networks.
        trust_pickle: allow checkpoints that need full unpickling (can run code).

    Returns:
        :class:`fomm.nets.FOMMNetworks` or :class:`fomm.tpsmm.nets.TPSMMNetworks` in eval mode.

    Raises:
        InputError: the file is missing, is not an FOMM checkpoint, lacks its config, or
            does not match the config.
    """
    from datamodules.training.checkpoints import UntrustedCheckpointError
    from fomm.checkpoint import load_fomm

    hint = (
        "pass checkpoint=PATH: an official *.pth.tar with config=its yaml "
        "(e.g. vox-cpk.pth.tar with config/vox-256.yaml), or a .ckpt trained here"
    )
    if checkpoint in (None, "", "null"):
        raise InputError(f"no checkpoint given; {hint}")
    file = require_file(checkpoint, "checkpoint", "checkpoint")
    official_suffix = next((s for s in OFFICIAL_SUFFIXES if file.name.endswith(s)), None)
    if config in (None, "", "null") and official_suffix:
        sibling = file.with_name(file.name[: -len(official_suffix)] + ".yaml")
        if not sibling.is_file():
            raise InputError(
                f"checkpoint {file} is an official-format checkpoint and needs its config: "
                "pass config=PATH to the yaml it was trained with (e.g. config/vox-256.yaml "
                "for vox-cpk.pth.tar)"
            )
    if config not in (None, "", "null"):
        config = require_file(config, "FOMM config", "config")
    try:
        return load_fomm(file, config, device=device, trust_pickle=trust_pickle)
    except UntrustedCheckpointError as error:
        raise InputError(
            f"checkpoint {file} holds Python objects beyond tensors, and loading it could run "
            "code from the file; official FOMM checkpoints do not. If you trust it, add "
            "trust_checkpoint=true"
        ) from error
    except (ValueError, FileNotFoundError, KeyError) as error:
        raise InputError(f"checkpoint {file} cannot be used: {error}") from error
    except (pickle.UnpicklingError, IndexError, EOFError, RuntimeError) as error:
        # torch's weights-only unpickler fails this way on files that are no checkpoint.
        raise InputError(
            f"checkpoint {file} is not a PyTorch checkpoint ({type(error).__name__}: {error}); "
            f"{hint}"
        ) from error


def model_frame_size(networks: torch.nn.Module, default: int = 256) -> int:
    """The square frame size the model was trained on (its config's ``frame_shape``)."""
    config = getattr(networks, "config", None) or {}
    shape = (config.get("dataset_params") or {}).get("frame_shape")
    return int(shape[0]) if shape else default


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(precision: str) -> torch.dtype | None:
    """``fp32`` -> None (no autocast); ``bf16``/``fp16`` -> the autocast dtype."""
    if precision not in PRECISIONS:
        raise InputError(f"precision={precision} is not one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]
