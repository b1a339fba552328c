"""Random affine + thin-plate-spline warps for the equivariance constraints (Sec. 3.3)."""

from __future__ import annotations

import torch
from torch import Tensor

from fomm.nets.geometry import full_precision, make_coordinate_grid, warp

_LOG_EPS = 1e-6


class RandomTPSTransform:
    """A random smooth warp per batch item: ``theta [x; 1] + sum_k c_k r_k^2 log(r_k + 1e-6)``.

    ``theta`` is the identity plus N(0, sigma_affine) noise; ``r_k`` is the L1 distance to the
    k-th control point of a ``points_tps`` x ``points_tps`` grid, and ``c_k ~ N(0, sigma_tps)``
    (the same displacement is added to x and y, as in the original). The Jacobian is
    computed in closed form, which equals the original's autograd result and stays
    differentiable with respect to the coordinates.

    Args:
        batch_size: one transform per item.
        sigma_affine: std of the affine noise.
        sigma_tps: std of the spline coefficients; None for an affine-only warp.
        points_tps: control points per side; None for an affine-only warp.
        device: where the parameters live.
        generator: a random generator, for reproducible warps.
        align_corners: ``grid_sample`` convention of :meth:`transform_frame`.
    """

    def __init__(
        self,
        batch_size: int,
        sigma_affine: float,
        sigma_tps: float | None = None,
        points_tps: int | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
        align_corners: bool = True,
    ) -> None:
        noise = torch.randn(batch_size, 2, 3, generator=generator) * sigma_affine
        self.theta = (noise + torch.eye(2, 3).view(1, 2, 3)).to(device)
        self.batch_size = batch_size
        self.align_corners = align_corners
        self.tps = sigma_tps is not None and points_tps is not None
        if self.tps:
            self.control_points = make_coordinate_grid((points_tps, points_tps), device).reshape(
                1, 1, -1, 2
            )
            params = torch.randn(batch_size, 1, points_tps**2, generator=generator) * sigma_tps
            self.control_params = params.to(device)

    def _distances(self, coordinates: Tensor) -> tuple[Tensor, Tensor]:
        """Signed offsets (B?, N, P, 2) to the control points and their L1 norms (B?, N, P)."""
        offsets = coordinates.unsqueeze(-2) - self.control_points.to(coordinates.dtype)
        return offsets, offsets.abs().sum(-1)

    def warp_coordinates(self, coordinates: Tensor) -> Tensor:
        """Map (B or 1, N, 2) points through the warp; returns (B, N, 2)."""
        theta = self.theta.to(coordinates.dtype).unsqueeze(1)  # (B, 1, 2, 3)
        transformed = (theta[..., :2] @ coordinates.unsqueeze(-1)).squeeze(-1) + theta[..., 2]
        if self.tps:
            _, distances = self._distances(coordinates)
            spline = distances**2 * torch.log(distances + _LOG_EPS)
            spline = (spline * self.control_params.to(coordinates.dtype)).sum(dim=-1)
            transformed = transformed + spline.view(self.batch_size, coordinates.shape[1], 1)
        return transformed

    def jacobian(self, coordinates: Tensor) -> Tensor:
        """Jacobian of the warp at (B, N, 2) points: (B, N, 2, 2), one row per output coordinate."""
        theta = self.theta.to(coordinates.dtype)[:, :, :2].unsqueeze(1)  # (B, 1, 2, 2)
        jacobian = theta.expand(self.batch_size, coordinates.shape[1], 2, 2)
        if self.tps:
            offsets, distances = self._distances(coordinates)
            # d/dr [r^2 log(r + eps)] times d r / d coordinate = sign(offset).
            radial = 2 * distances * torch.log(distances + _LOG_EPS) + distances**2 / (
                distances + _LOG_EPS
            )
            weights = (radial * self.control_params.to(coordinates.dtype)).unsqueeze(-1)
            gradient = (weights * torch.sign(offsets)).sum(dim=-2)  # (B, N, 2)
            # The spline term is added to both outputs: the same gradient row for x and y.
            jacobian = jacobian + gradient.unsqueeze(-2)
        return jacobian

    def transform_frame(self, frame: Tensor) -> Tensor:
        """Warp (B, C, H, W) frames, reflecting at the border."""
        height, width = frame.shape[2:]
        grid = make_coordinate_grid((height, width), frame.device, torch.float32)
        with full_precision(frame.device):
            grid = self.warp_coordinates(grid.reshape(1, height * width, 2))
        grid = grid.view(self.batch_size, height, width, 2)
        return warp(frame, grid, self.align_corners, padding_mode="reflection")
