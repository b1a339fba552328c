"""Coordinate grids, keypoint heatmaps and 2x2 algebra shared by the FOMM networks.

FOMM works in normalised image coordinates: x and y both run over [-1, 1], x first,
exactly the convention of ``grid_sample(..., align_corners=True)``. The grids are
rebuilt by the original code at every call; here they are cached per size, device and
dtype, because the same few sizes come back at every training step.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


@functools.lru_cache(maxsize=64)
def _cached_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    # A grid first made under inference_mode must still be usable in training later.
    with torch.inference_mode(False), torch.no_grad():
        x = torch.arange(width, device=device, dtype=torch.float32)
        y = torch.arange(height, device=device, dtype=torch.float32)
        x = 2 * (x / (width - 1)) - 1
        y = 2 * (y / (height - 1)) - 1
        xx = x.view(1, -1).expand(height, width)
        yy = y.view(-1, 1).expand(height, width)
        return torch.stack([xx, yy], dim=2).to(dtype)


def make_coordinate_grid(
    spatial_size: tuple[int, int] | torch.Size,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Return the (H, W, 2) grid of (x, y) pixel centres in [-1, 1].

    The tensor is cached and shared: treat it as read-only (never modify it in place).

    Args:
        spatial_size: (height, width).
        device: where the grid lives.
        dtype: its dtype.
    """
    height, width = (int(s) for s in spatial_size)
    return _cached_grid(height, width, torch.device(device or "cpu"), dtype)


def kp2gaussian(kp_value: Tensor, spatial_size: tuple[int, int], kp_variance: float) -> Tensor:
    """Render keypoints as isotropic Gaussians on a grid (Eq. 6 of the paper).

    Args:
        kp_value: (..., K, 2) keypoints in [-1, 1].
        spatial_size: (H, W) of the heatmaps.
        kp_variance: the Gaussian's variance in normalised coordinates.

    Returns:
        (..., K, H, W) heatmaps with peak value 1.
    """
    grid = make_coordinate_grid(spatial_size, kp_value.device, kp_value.dtype)
    mean = kp_value.unsqueeze(-2).unsqueeze(-2)  # (..., K, 1, 1, 2)
    squared_distance = ((grid - mean) ** 2).sum(-1)
    return torch.exp(-0.5 * squared_distance / kp_variance)


def full_precision(device: torch.device | str) -> torch.autocast:
    """Switch autocast off for keypoint geometry (matmuls and einsums would run in bf16).

    Why: keypoints, Jacobians and sampling grids are a handful of numbers each, cheap in
    float32, and bf16's 8-bit mantissa would shift them by a visible fraction of a pixel.
    """
    return torch.autocast(device_type=torch.device(device).type, enabled=False)


def inverse_2x2(matrix: Tensor) -> Tensor:
    """Invert a batch of 2x2 matrices in closed form.

    Why: ``torch.inverse`` dispatches a LAPACK call for every tiny matrix on the CPU and
    has no bf16 kernel; the closed form is exact for 2x2 and works in any dtype.
    """
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    determinant = a * d - b * c
    inverse = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2)
    return inverse / determinant.unsqueeze(-1).unsqueeze(-1)


def warp(
    image: Tensor, grid: Tensor, align_corners: bool = True, padding_mode: str = "zeros"
) -> Tensor:
    """Bilinear ``grid_sample`` in float32, whatever autocast is doing.

    Why: sampling positions in bf16 are off by up to a quarter pixel at 64 px, which the
    flow would then have to learn around; the warp itself is cheap next to the convs.

    Args:
        image: (B, C, H, W).
        grid: (B, h, w, 2) sampling positions (x, y) in [-1, 1].
        align_corners: the ``grid_sample`` convention (True for the published checkpoints).
        padding_mode: ``zeros`` (FOMM's warps) or ``reflection`` (the equivariance transform).

    Returns:
        (B, C, h, w) in the image's dtype.
    """
    with torch.autocast(device_type=image.device.type, enabled=False):
        out = torch.nn.functional.grid_sample(
            image.float(),
            grid.float(),
            mode="bilinear",
            padding_mode=padding_mode,
            align_corners=align_corners,
        )
    return out.to(image.dtype)


def warp_by_each(image: Tensor, grids: Tensor, align_corners: bool = True) -> Tensor:
    """Warp each image by each of its N sampling grids (the source under every candidate motion).

    Args:
        image: (B, C, H, W).
        grids: (B, N, H, W, 2) sampling positions (x, y) in [-1, 1].
        align_corners: the ``grid_sample`` convention.

    Returns:
        (B, N, C, H, W).
    """
    batch, channels, height, width = image.shape
    num_grids = grids.shape[1]
    repeated = image.unsqueeze(1).expand(batch, num_grids, channels, height, width)
    warped = warp(
        repeated.reshape(batch * num_grids, channels, height, width),
        grids.reshape(batch * num_grids, height, width, 2),
        align_corners,
    )
    return warped.view(batch, num_grids, channels, height, width)
