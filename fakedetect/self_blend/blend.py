"""Self-blended images: a pseudo-fake from one real face (Shiohara & Yamasaki, CVPR 2022).

A face swap pastes one face onto another through a mask and leaves traces at the
seam: colour and sharpness that change at the boundary, a face slightly out of place.
Self-blending makes those traces from a single real face, so a detector learns them
without seeing any manipulation method:

1. source-target generation: two copies of the face; one (the source or the target,
   equal chance) gets a colour and frequency change
   (:func:`~fakedetect.self_blend.perturb.source_perturbation`), then the source moves
   by a small random shift and scale;
2. mask generation: the face hull from landmarks (68 points where face-alignment runs,
   else MTCNN's five grown, :mod:`~fakedetect.self_blend.masks`), moved with the
   source, elastically deformed, blurred, and scaled by a blend ratio drawn from
   {0.25, 0.5, 0.75, 1, 1, 1};
3. blending: ``fake = mask * source + (1 - mask) * target``, label 1. The real sample
   of the pair is the target, so perturbed colours or sharpness alone never mean fake.

Every random choice comes from the generator given with the face: the same seed gives
the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np

from fakedetect.self_blend.masks import elastic_deform, fill_hull, landmark_hull, soft_blend_mask
from fakedetect.self_blend.perturb import random_affine_matrix, source_perturbation

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SelfBlended:
    """One self-blended pair.

    Attributes:
        real: the target, uint8 RGB: the real sample of the pair (label 0).
        fake: the blend, uint8 RGB (label 1).
        mask: the blend weights, float32 ``(H, W)`` in [0, 1]; ``fake`` equals ``real``
            wherever it is 0.
        perturbed: which copy got the colour and frequency change, ``source`` or ``target``.
    """

    real: np.ndarray
    fake: np.ndarray
    mask: np.ndarray
    perturbed: str


class SelfBlend:
    """Make a self-blended pseudo-fake of a face crop and its landmarks (module docstring).

    Args:
        landmarks: the landmark detector for crops without stored landmarks (e.g.
            :class:`~fakedetect.self_blend.landmarks.AutoLandmarkDetector`); the data
            layer runs it once per crop and caches the points. None: only stored ones.
        perturbation: the colour and frequency change (default: the paper's,
            :func:`~fakedetect.self_blend.perturb.source_perturbation`).
        perturb_target_p: probability that the target, not the source, is perturbed.
        forehead_p: probability that the hull reaches up to the forehead.
        forehead: the forehead's height, in eyes-to-mouth distances.
        hull_scale: the five-point hull's growth about its centroid.
        chin: the five-point hull's chin below the mouth, in eyes-to-mouth distances.
        shift: the source's largest shift as fractions of (width, height).
        scale: range of the source's scale.
        elastic_alpha: size of the mask's elastic displacements (0: none).
        elastic_sigma: their smoothness.
        mask_work_size: range of the side at which the mask is blurred.
        blur_kernel_sizes: range of the odd Gaussian kernels.
        blur_sigmas: range of the second blur's sigma.
        blend_ratios: the blend ratios drawn from with equal chance.
    """

    def __init__(
        self,
        landmarks: Any = None,
        perturbation: A.BasicTransform | None = None,
        perturb_target_p: float = 0.5,
        forehead_p: float = 0.75,
        forehead: float = 0.4,
        hull_scale: float = 2.0,
        chin: float = 0.7,
        shift: Sequence[float] = (0.03, 0.015),
        scale: Sequence[float] = (0.95, 1 / 0.95),
        elastic_alpha: float = 50.0,
        elastic_sigma: float = 7.0,
        mask_work_size: Sequence[int] = (192, 256),
        blur_kernel_sizes: Sequence[int] = (5, 25),
        blur_sigmas: Sequence[float] = (5, 45),
        blend_ratios: Sequence[float] = BLEND_RATIOS,
    ) -> None:
        for name, value in (("perturb_target_p", perturb_target_p), ("forehead_p", forehead_p)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name}={value} must be a probability in [0, 1]")
        if not blend_ratios or not all(0 < ratio <= 1 for ratio in blend_ratios):
            raise ValueError(f"blend_ratios={list(blend_ratios)} must be values in (0, 1]")
        self.landmarks = landmarks
        self.perturbation = perturbation if perturbation is not None else source_perturbation()
        self.perturb_target_p = perturb_target_p
        self.forehead_p = forehead_p
        self.forehead = forehead
        self.hull_scale = hull_scale
        self.chin = chin
        self.shift = tuple(shift)
        self.scale = tuple(scale)
        self.elastic_alpha = elastic_alpha
        self.elastic_sigma = elastic_sigma
        self.mask_work_size = tuple(mask_work_size)
        self.blur_kernel_sizes = tuple(blur_kernel_sizes)
        self.blur_sigmas = tuple(blur_sigmas)
        self.blend_ratios = tuple(float(ratio) for ratio in blend_ratios)

    def face_mask(self, points: np.ndarray, shape: Sequence[int], rng: np.random.Generator):
        """The binary face hull of ``points`` (uint8 0/1), with or without the forehead."""
        forehead = self.forehead if rng.random() < self.forehead_p else 0.0
        hull = landmark_hull(np.asarray(points), forehead, self.hull_scale, self.chin)
        return fill_hull(hull, shape)

    def __call__(
        self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator
    ) -> SelfBlended:
        """Self-blend one face.

        Args:
            image: the real face crop, uint8 RGB ``(H, W, 3)``.
            landmarks: its ``(68, 2)`` or ``(5, 2)`` (x, y) points in crop pixels.
            rng: the sample's generator (every random choice is drawn from it).

        Raises:
            EmptyMaskError: the landmarks lie outside the crop.
            ValueError: the landmarks are not 68 or 5 points of a face.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"a face must be uint8 RGB (H, W, 3), not {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        mask = self.face_mask(landmarks, image.shape, rng)
        self.perturbation.set_random_seed(int(rng.integers(2**31)))
        changed = self.perturbation(image=image)["image"]
        perturb_target = rng.random() < self.perturb_target_p
        source, target = (image, changed) if perturb_target else (changed, image)
        matrix = random_affine_matrix(rng, height, width, self.shift, self.scale)
        source = cv2.warpAffine(
            source, matrix, (width, height), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )  # fmt: skip
        mask = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_NEAREST)
        mask = elastic_deform(mask, rng, self.elastic_alpha, self.elastic_sigma)
        if not mask.any():  # the hull was a sliver at the border and moved out
            mask = self.face_mask(landmarks, image.shape, rng)
        weights = soft_blend_mask(
            mask, rng, self.mask_work_size, self.blur_kernel_sizes, self.blur_sigmas
        )
        weights *= self.blend_ratios[int(rng.integers(len(self.blend_ratios)))]
        alpha = weights[..., None]
        fake = alpha * source.astype(np.float32) + (1 - alpha) * target.astype(np.float32)
        return SelfBlended(
            real=np.ascontiguousarray(target),
            fake=np.clip(np.round(fake), 0, 255).astype(np.uint8),
            mask=weights,
            perturbed="target" if perturb_target else "source",
        )
