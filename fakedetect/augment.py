"""The paper's training augmentation of face crops (albumentations 2).

The official training pipeline (``isplutils.utils.get_transformer``, written
for albumentations 0.4) is, after the crop is fitted into the square input:
``Downscale(0.5)`` with p 0.5 (it stands in for a half-resolution copy of the
dataset); then a horizontal flip; one of brightness/contrast or
hue/saturation/value; one of ISO noise or additive Gaussian noise (std 1-3 % of
the range); a downscale by 0.7-0.9 with bilinear resampling; JPEG compression at
quality 50-99. Every step here has its probability and range as an argument, so
a config can change or switch off any of them (p = 0). albumentations 0.4's
default probability was 0.5 for each of these steps, which the defaults keep.

The fitting before it and the normalisation after it are the data layer's
(:mod:`datamodules.face_transform`); data configs name this function with ``_target_``
(``conf/augment/icpr.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2


def icpr_augmentation(
    half_downscale_p: float = 0.5,
    flip_p: float = 0.5,
    color_p: float = 0.5,
    brightness_limit: float = 0.2,
    contrast_limit: float = 0.2,
    hue_shift_limit: int = 10,
    sat_shift_limit: int = 30,
    val_shift_limit: int = 20,
    noise_p: float = 0.5,
    gauss_noise_std: Sequence[float] = (0.01, 0.03),
    downscale_p: float = 0.5,
    downscale_range: Sequence[float] = (0.7, 0.9),
    compression_p: float = 0.5,
    quality_range: Sequence[int] = (50, 99),
    strength: float = 1.0,
) -> A.Compose:
    """The paper's training augmentation for face crops (uint8 RGB in, uint8 RGB out).

    Args:
        half_downscale_p: probability of a 0.5x downscale-upscale (nearest neighbour).
        flip_p: probability of a horizontal flip.
        color_p: probability of one colour change: brightness/contrast
            (``brightness_limit``, ``contrast_limit``) or hue/saturation/value
            (``*_shift_limit``), picked with equal chance.
        brightness_limit: relative brightness change, +-.
        contrast_limit: relative contrast change, +-.
        hue_shift_limit: hue shift, +-.
        sat_shift_limit: saturation shift, +-.
        val_shift_limit: value shift, +-.
        noise_p: probability of ISO noise or Gaussian noise, picked with equal chance.
        gauss_noise_std: range of the Gaussian noise std, as a fraction of 255.
        downscale_p: probability of a bilinear downscale-upscale.
        downscale_range: its scale range.
        compression_p: probability of JPEG compression.
        quality_range: its quality range.
        strength: one knob for sweeps: every step's probability is multiplied by it
            (capped at 1): 0 switches augmentation off, 1 is the paper's, 2 applies each
            step twice as often.

    Returns:
        The pipeline, to be given to :class:`datamodules.faces.FaceDataModule` as ``augment``.
    """
    if strength < 0:
        raise ValueError(f"augmentation strength must be >= 0, got {strength}")

    def p(probability: float) -> float:
        return min(1.0, probability * strength)

    bilinear = {"downscale": cv2.INTER_LINEAR, "upscale": cv2.INTER_LINEAR}
    return A.Compose(
        [
            A.Downscale(scale_range=(0.5, 0.5), p=p(half_downscale_p)),
            A.HorizontalFlip(p=p(flip_p)),
            A.OneOf(
                [
                    A.RandomBrightnessContrast(
                        brightness_limit=brightness_limit, contrast_limit=contrast_limit, p=1.0
                    ),
                    A.HueSaturationValue(
                        hue_shift_limit=hue_shift_limit,
                        sat_shift_limit=sat_shift_limit,
                        val_shift_limit=val_shift_limit,
                        p=1.0,
                    ),
                ],
                p=p(color_p),
            ),
            A.OneOf(
                [A.ISONoise(p=1.0), A.GaussNoise(std_range=tuple(gauss_noise_std), p=1.0)],
                p=p(noise_p),
            ),
            A.Downscale(
                scale_range=tuple(downscale_range), interpolation_pair=bilinear, p=p(downscale_p)
            ),
            A.ImageCompression(quality_range=tuple(quality_range), p=p(compression_p)),
        ]
    )
