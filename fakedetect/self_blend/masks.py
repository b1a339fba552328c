"""Face masks for self-blending: a hull from landmarks, its deformation, the soft blend mask.

Hull from 68 points (face-alignment, dlib's layout): the convex hull of all points,
i.e. jaw line and eyebrows. The paper's 81-point detector adds the forehead and the
official code leaves it out with probability 0.25; here the forehead is added (with
probability ``forehead_p`` of :class:`~fakedetect.self_blend.blend.SelfBlend`, 0.75) by
moving the eyebrow points (17-26) up by ``forehead`` times the eyes-to-mouth distance.

Hull from MTCNN's five points (eyes, nose tip, mouth corners), grown to cover the face
from forehead to chin. With E and M the centres of the eyes and of the mouth corners,
D = |M - E| and a the unit vector from E to M (the face's "down"):

1. every point p moves away from the centroid C of the five: ``C + scale (p - C)``
   (``scale`` 2.0: the eyes land near the temples, the mouth corners near the jaw);
2. the forehead: the two grown eye points moved up by ``forehead * D`` (0.4; the
   eyebrows sit about 0.3 D above the eyes);
3. the chin: ``M + chin * D * a`` (0.7; the chin is about 0.7 D below the mouth);
4. the mask is the convex hull of these eight points.

On an average frontal face (eyes 1 D apart) this spans about 2 D across and 2.6 D from
forehead to chin, the size of the 68-point hull plus forehead; it contains the five
points (scaling about the centroid by at least 1 only grows a hull). Without the
forehead (probability ``1 - forehead_p``, as for 68 points) step 2 is left out.

Deformation and softening follow the official code: an elastic deformation of the
binary mask (displacements of ``alpha`` times Gaussian-smoothed (``sigma``) uniform
noise), then at a random working size of 192-256 pixels a Gaussian blur of random odd
kernel 5-25 thresholded at one half (a majority filter that rounds the outline), a
second blur of random kernel 5-25 and sigma 5-45, and normalisation to a maximum of 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_BROWS = slice(17, 27)
_LEFT_EYE_68, _RIGHT_EYE_68, _MOUTH_68 = slice(36, 42), slice(42, 48), slice(48, 68)


class EmptyMaskError(ValueError):
    """The landmark hull covers no pixel of the image (landmarks outside the crop)."""


def _face_axis(eye_centre: np.ndarray, mouth_centre: np.ndarray) -> tuple[np.ndarray, float]:
    """The unit vector from the eyes to the mouth and their distance."""
    axis = mouth_centre - eye_centre
    length = float(np.hypot(*axis))
    if not np.isfinite(length) or length < 1e-3:
        raise ValueError("the eyes and the mouth coincide; the landmarks do not describe a face")
    return axis / length, length


def five_point_hull(
    points: np.ndarray, scale: float = 2.0, forehead: float = 0.4, chin: float = 0.7
) -> np.ndarray:
    """The grown hull of MTCNN's five points (module docstring), ``(M, 2)`` float32.

    Args:
        points: ``(5, 2)``: eyes, nose tip, mouth corners (MTCNN's order).
        scale: growth about the centroid (>= 1).
        forehead: the forehead's height above the grown eyes, in eyes-to-mouth distances
            (0: none).
        chin: the chin's distance below the mouth centre, in eyes-to-mouth distances.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"expected (5, 2) landmarks, got shape {points.shape}")
    if scale < 1:
        raise ValueError(f"scale={scale} must be >= 1 so the hull holds the landmarks")
    mouth_centre = points[3:5].mean(axis=0)
    down, length = _face_axis(points[0:2].mean(axis=0), mouth_centre)
    centroid = points.mean(axis=0)
    grown = centroid + scale * (points - centroid)
    extra = [mouth_centre + chin * length * down]
    if forehead > 0:
        extra += list(grown[0:2] - forehead * length * down)
    return _hull(np.vstack([grown, extra]))


def sixty_eight_point_hull(points: np.ndarray, forehead: float = 0.4) -> np.ndarray:
    """The hull of 68 points (jaw and eyebrows), with the forehead if ``forehead`` > 0."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {points.shape}")
    if forehead <= 0:
        return _hull(points)
    eyes = np.vstack([points[_LEFT_EYE_68], points[_RIGHT_EYE_68]]).mean(axis=0)
    down, length = _face_axis(eyes, points[_MOUTH_68].mean(axis=0))
    return _hull(np.vstack([points, points[_BROWS] - forehead * length * down]))


def landmark_hull(
    points: np.ndarray, forehead: float = 0.4, scale: float = 2.0, chin: float = 0.7
) -> np.ndarray:
    """The face hull of 68 or 5 points (the rule by their number)."""
    if len(points) == 68:
        return sixty_eight_point_hull(points, forehead)
    if len(points) == 5:
        return five_point_hull(points, scale, forehead, chin)
    raise ValueError(f"self-blending masks need 68 or 5 landmarks, got {len(points)}")


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)


def fill_hull(hull: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """A uint8 0/1 mask of ``shape[:2]`` that is 1 inside the hull.

    Raises:
        EmptyMaskError: the hull covers no pixel.
    """
    mask = np.zeros(tuple(shape[:2]), dtype=np.uint8)
    # Sub-pixel vertices: OpenCV's fixed point with 4 fractional bits.
    cv2.fillConvexPoly(mask, np.round(hull * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    if not mask.any():
        raise EmptyMaskError("the landmark hull lies outside the image")
    return mask


def elastic_deform(
    mask: np.ndarray, rng: np.random.Generator, alpha: float = 50.0, sigma: float = 7.0
) -> np.ndarray:
    """Displace the mask's pixels by smoothed random fields (nearest neighbour, 0 outside)."""
    if alpha <= 0:
        return mask
    height, width = mask.shape
    field_x = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)), (0, 0), sigma) * alpha
    field_y = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)), (0, 0), sigma) * alpha
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    map_x = (grid_x + field_x).astype(np.float32)
    map_y = (grid_y + field_y).astype(np.float32)
    return cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)


def _odd_kernel(rng: np.random.Generator, sizes: Sequence[int]) -> int:
    low, high = sizes
    return int(rng.choice(np.arange(low | 1, high + 1, 2)))


def soft_blend_mask(
    mask: np.ndarray,
    rng: np.random.Generator,
    work_size: Sequence[int] = (192, 256),
    kernel_sizes: Sequence[int] = (5, 25),
    sigmas: Sequence[float] = (5, 45),
) -> np.ndarray:
    """The blend weights of a binary mask: float32 in [0, 1], 0 far from it, 1 inside.

    Works at a random size of ``work_size`` pixels a side, so the softness is relative
    to the face, not to the crop's resolution (module docstring for the steps).
    """
    height, width = mask.shape
    work_h, work_w = (int(rng.integers(work_size[0], work_size[1] + 1)) for _ in range(2))
    small = cv2.resize(mask.astype(np.float32), (work_w, work_h), interpolation=cv2.INTER_LINEAR)
    kernel = _odd_kernel(rng, kernel_sizes)
    rounded = (cv2.GaussianBlur(small, (kernel, kernel), 0) >= 0.5).astype(np.float32)
    if not rounded.any():  # a sliver thinner than the kernel: keep it rather than lose it
        rounded = (small > 0).astype(np.float32)
    kernel = _odd_kernel(rng, kernel_sizes)
    sigma = float(rng.integers(int(sigmas[0]), int(sigmas[1]) + 1))
    soft = cv2.GaussianBlur(rounded, (kernel, kernel), sigma)
    soft = cv2.resize(soft / soft.max(), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(soft, 0.0, 1.0).astype(np.float32)
