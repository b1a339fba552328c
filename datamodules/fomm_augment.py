"""The FOMM training augmentations, applied identically to every frame of a clip.

FOMM learns motion from the difference between the source and driving frames, so
an augmentation must never differ between the two: one random draw per sample
decides the flip, the crop window and the colour change for both frames. The
parameters and their semantics follow the official ``augmentation_params``
(``flip_param``, ``rotation_param``, ``resize_param``, ``crop_param``,
``jitter_param``), applied in the official order (flip, rotation, resize, crop,
colour jitter). Two details kept on purpose: a time flip and a horizontal flip
are never applied together (the official code tries the time flip first and
returns), and the colour adjustments run in a random order. Frames here are
float tensors ``(T, 3, H, W)`` in [0, 1] rather than lists of arrays; resizing
is bilinear with anti-aliasing where the official code used skimage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF


def _as_range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """``d`` means ``(-d, d)``; a pair is taken as it is."""
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{name}={value}: a single value must be >= 0")
        return -float(value), float(value)
    low, high = (float(v) for v in value)
    return low, high


class FOMMAugmentation:
    """Random flip, rotation, resize, crop and colour jitter shared by all frames of a clip.

    Args:
        flip_param: ``{time_flip: bool, horizontal_flip: bool}``; each fires with
            probability 0.5, the horizontal flip only when the time flip did not.
        rotation_param: ``{degrees: d or [min, max]}``: one angle for the clip.
        resize_param: ``{ratio: [min, max]}``: scale the frames by a factor drawn from it.
        crop_param: ``{size: [h, w]}``: a random window (edge-padded first if the frames
            are smaller); with ``resize_param`` it brings the frames back to their size.
        jitter_param: ``{brightness, contrast, saturation, hue}``: factors drawn from
            ``[max(0, 1 - b), 1 + b]`` (hue: a shift in ``[-h, h]``, at most 0.5).
    """

    def __init__(
        self,
        flip_param: dict[str, Any] | None = None,
        rotation_param: dict[str, Any] | None = None,
        resize_param: dict[str, Any] | None = None,
        crop_param: dict[str, Any] | None = None,
        jitter_param: dict[str, Any] | None = None,
    ) -> None:
        flip = dict(flip_param or {})
        self.time_flip = bool(flip.pop("time_flip", False))
        self.horizontal_flip = bool(flip.pop("horizontal_flip", False))
        _reject_unknown("flip_param", flip)
        self.degrees = None
        if rotation_param is not None:
            self.degrees = _as_range(rotation_param["degrees"], "rotation_param.degrees")
        self.ratio = None
        if resize_param is not None:
            self.ratio = tuple(float(r) for r in resize_param["ratio"])
        self.crop_size = None
        if crop_param is not None:
            size = crop_param["size"]
            self.crop_size = (int(size), int(size)) if isinstance(size, int) else tuple(size)
        jitter = dict(jitter_param or {})
        self.jitter = {
            k: float(jitter.pop(k, 0.0)) for k in ("brightness", "contrast", "saturation", "hue")
        }
        _reject_unknown("jitter_param", jitter)
        if not 0 <= self.jitter["hue"] <= 0.5:
            raise ValueError(f"jitter_param.hue={self.jitter['hue']} must be in [0, 0.5]")

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Augment a clip ``(T, 3, H, W)`` in [0, 1] with one random draw for all its frames."""
        clip = self._flip(clip, rng)
        if self.degrees is not None:
            clip = TF.rotate(clip, float(rng.uniform(*self.degrees)))
        if self.ratio is not None:
            clip = self._resize(clip, float(rng.uniform(*self.ratio)))
        if self.crop_size is not None:
            clip = self._crop(clip, rng)
        return self._color_jitter(clip, rng).clamp_(0.0, 1.0)

    def _flip(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if rng.random() < 0.5 and self.time_flip:
            return clip.flip(0)
        if rng.random() < 0.5 and self.horizontal_flip:
            return clip.flip(-1)
        return clip

    @staticmethod
    def _resize(clip: torch.Tensor, factor: float) -> torch.Tensor:
        height, width = clip.shape[-2:]
        size = (max(1, int(height * factor)), max(1, int(width * factor)))
        return F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=True)

    def _crop(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        crop_h, crop_w = self.crop_size
        height, width = clip.shape[-2:]
        pad_h, pad_w = max(0, crop_h - height), max(0, crop_w - width)
        if pad_h or pad_w:
            padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
            clip = F.pad(clip, padding, mode="replicate")
            height, width = clip.shape[-2:]
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        return clip[..., top : top + crop_h, left : left + crop_w]

    def _color_jitter(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        steps = []
        for name, adjust in (
            ("brightness", TF.adjust_brightness),
            ("contrast", TF.adjust_contrast),
            ("saturation", TF.adjust_saturation),
        ):
            amount = self.jitter[name]
            if amount > 0:
                factor = float(rng.uniform(max(0.0, 1 - amount), 1 + amount))
                steps.append((adjust, factor))
        if self.jitter["hue"] > 0:
            steps.append(
                (TF.adjust_hue, float(rng.uniform(-self.jitter["hue"], self.jitter["hue"])))
            )
        for position in rng.permutation(len(steps)):
            adjust, factor = steps[position]
            clip = adjust(clip, factor)
        return clip


def _reject_unknown(group: str, leftover: dict[str, Any]) -> None:
    if leftover:
        raise ValueError(f"{group}: unknown keys {sorted(leftover)}")
