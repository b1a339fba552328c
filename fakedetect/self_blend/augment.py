"""The paper's augmentation of self-blended training, applied to reals and blends alike.

After blending, the official code (``SBI_Dataset.get_transforms``) changes both images
of a pair with an RGB shift (up to 20 levels, probability 0.3), a hue/saturation/value
shift (0.3, probability 0.3), brightness and contrast (within 30 %, probability 0.3)
and JPEG compression (quality 40-100, probability 0.5); it flips the frame
horizontally (probability 0.5) before blending, which gives the same distribution as
flipping after. Here the real crop and its blend are augmented independently (the
official code draws the same parameters for both): each is classified on its own, so
the pair's common draw carries no signal, and either way both classes see the same
distribution of changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A

from fakedetect.self_blend.perturb import colour_changes


def sbi_augmentation(
    flip_p: float = 0.5,
    rgb_shift: float = 20,
    rgb_shift_p: float = 0.3,
    hsv_shift: float = 0.3,
    hsv_p: float = 0.3,
    brightness_limit: float = 0.3,
    contrast_limit: float = 0.3,
    brightness_contrast_p: float = 0.3,
    quality_range: Sequence[int] = (40, 100),
    compression_p: float = 0.5,
) -> A.Compose:
    """The paper's training augmentation (uint8 RGB in and out), for ``data.augment``.

    Args:
        flip_p: probability of a horizontal flip.
        rgb_shift: largest shift of each RGB channel, in levels.
        rgb_shift_p: its probability.
        hsv_shift: largest hue, saturation and value shift.
        hsv_p: its probability.
        brightness_limit: relative brightness change, +-.
        contrast_limit: relative contrast change, +-.
        brightness_contrast_p: their probability.
        quality_range: JPEG quality range.
        compression_p: probability of JPEG compression.
    """
    return A.Compose(
        [
            A.HorizontalFlip(p=flip_p),
            *colour_changes(
                rgb_shift,
                rgb_shift_p,
                hsv_shift,
                hsv_p,
                brightness_limit,
                contrast_limit,
                brightness_contrast_p,
            ),
            A.ImageCompression(quality_range=tuple(quality_range), p=compression_p),
        ]
    )
