"""The perturbations that make a face's two copies differ: colour, frequency, geometry.

Self-blending (Shiohara & Yamasaki, CVPR 2022) turns one real face into a source and a
target that differ the way a face swap's two faces do: one copy changes colour (RGB
shift, hue/saturation/value, brightness/contrast) and frequency content (a coarser
copy, or a sharpened one), then the source moves a little (shift and scale). The
defaults are the official code's (``src/utils/sbi.py``, albumentations 1.x names, the
same meaning in albumentations 2): RGB shift of up to 20 levels per channel with
probability 0.3, hue/saturation/value shifts of up to 0.3, brightness and contrast
within 10 %, then either a 2x or 4x downscale (nearest neighbour down, bilinear up) or
a sharpening with alpha 0.2-0.5 and lightness 0.5-1.0; a shift of up to 3 % of the
width and 1.5 % of the height and a scale within [0.95, 1/0.95].
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np


def colour_changes(
    rgb_shift: float,
    rgb_shift_p: float,
    hsv_shift: float,
    hsv_p: float,
    brightness_limit: float,
    contrast_limit: float,
    brightness_contrast_p: float,
) -> list[A.BasicTransform]:
    """An RGB shift, a hue/saturation/value shift and a brightness/contrast change.

    The colour steps the paper uses twice: on one copy before blending (source
    perturbation) and on both images of a pair after it (training augmentation).
    Each limit is symmetric (+-); the probabilities are per step.
    """
    return [
        A.RGBShift(
            r_shift_limit=(-rgb_shift, rgb_shift),
            g_shift_limit=(-rgb_shift, rgb_shift),
            b_shift_limit=(-rgb_shift, rgb_shift),
            p=rgb_shift_p,
        ),
        A.HueSaturationValue(
            hue_shift_limit=(-hsv_shift, hsv_shift),
            sat_shift_limit=(-hsv_shift, hsv_shift),
            val_shift_limit=(-hsv_shift, hsv_shift),
            p=hsv_p,
        ),
        A.RandomBrightnessContrast(
            brightness_limit=(-brightness_limit, brightness_limit),
            contrast_limit=(-contrast_limit, contrast_limit),
            p=brightness_contrast_p,
        ),
    ]


def source_perturbation(
    rgb_shift: float = 20,
    rgb_shift_p: float = 0.3,
    hsv_shift: float = 0.3,
    brightness_limit: float = 0.1,
    contrast_limit: float = 0.1,
    downscale_factors: Sequence[int] = (2, 4),
    sharpen_alpha: Sequence[float] = (0.2, 0.5),
    sharpen_lightness: Sequence[float] = (0.5, 1.0),
) -> A.Compose:
    """The colour and frequency change of one copy (uint8 RGB in and out).

    Args:
        rgb_shift: largest shift of each RGB channel, in levels.
        rgb_shift_p: probability of the RGB shift.
        hsv_shift: largest hue, saturation and value shift (always applied).
        brightness_limit: relative brightness change, +- (always applied).
        contrast_limit: relative contrast change, +- (always applied).
        downscale_factors: the coarser copies, one picked with equal chance (nearest
            neighbour down, bilinear back up: blocky, as a low-resolution swap looks).
        sharpen_alpha: range of the sharpening's blend with the original.
        sharpen_lightness: range of the sharpening's lightness.

    Returns:
        A pipeline; the frequency step is a downscale or a sharpening, with equal chance.
    """
    coarser = [
        A.Downscale(
            scale_range=(1 / factor, 1 / factor),
            interpolation_pair={"downscale": cv2.INTER_NEAREST, "upscale": cv2.INTER_LINEAR},
            p=1.0,
        )
        for factor in downscale_factors
    ]
    return A.Compose(
        [
            *colour_changes(
                rgb_shift, rgb_shift_p, hsv_shift, 1.0, brightness_limit, contrast_limit, 1.0
            ),
            A.OneOf(
                [
                    A.OneOf(coarser, p=1.0),
                    A.Sharpen(
                        alpha=tuple(sharpen_alpha), lightness=tuple(sharpen_lightness), p=1.0
                    ),
                ],
                p=1.0,
            ),
        ]
    )


def random_affine_matrix(
    rng: np.random.Generator,
    height: int,
    width: int,
    shift: Sequence[float] = (0.03, 0.015),
    scale: Sequence[float] = (0.95, 1 / 0.95),
) -> np.ndarray:
    """A random small shift and scale about the image centre, as a ``(2, 3)`` matrix.

    Args:
        rng: the sample's generator.
        height: image height.
        width: image width.
        shift: largest shift as fractions of (width, height).
        scale: range of the scale factor.
    """
    factor = rng.uniform(*scale)
    shift_x = rng.uniform(-shift[0], shift[0]) * width
    shift_y = rng.uniform(-shift[1], shift[1]) * height
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    return np.array(
        [
            [factor, 0.0, centre_x - factor * centre_x + shift_x],
            [0.0, factor, centre_y - factor * centre_y + shift_y],
        ]
    )
