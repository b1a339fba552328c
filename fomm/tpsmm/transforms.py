"""Random thin-plate-spline warps of frames for TPSMM's equivariance loss (Sec. 3.4).

TPSMM's random warp is FOMM's idea (an affine plus a spline on a regular grid of control
points, the same displacement added to x and y) with TPSMM's basis ``s log s`` of the
squared Euclidean distance, so it is a :class:`~fomm.tpsmm.nets.tps.ThinPlateSpline`
with random coefficients.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fomm.nets.geometry import full_precision, make_coordinate_grid, warp
from fomm.tpsmm.nets.tps import ThinPlateSpline


class RandomTPSWarp:
    """One random warp per batch item: ``theta [z; 1] + sum_k c_k U(|z - g_k|^2)`` on x and y.

    ``theta`` is the identity plus N(0, sigma_affine) noise, ``g_k`` the points of a
    ``points_tps`` x ``points_tps`` grid over [-1, 1], and ``c_k ~ N(0, sigma_tps)``.

    Args:
        batch_size: one warp per item.
        sigma_affine: std of the affine noise.
        sigma_tps: std of the spline coefficients.
        points_tps: control points per side.
        device: where the parameters live.
        generator: a random generator (on the CPU), for reproducible warps.
    """

    def __init__(
        self,
        batch_size: int,
        sigma_affine: float,
        sigma_tps: float,
        points_tps: int,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        theta = torch.eye(2, 3) + torch.randn(batch_size, 2, 3, generator=generator) * sigma_affine
        coefficients = torch.randn(batch_size, 1, points_tps**2, generator=generator) * sigma_tps
        grid = make_coordinate_grid((points_tps, points_tps)).reshape(1, -1, 2)
        self.batch_size = batch_size
        self.spline = ThinPlateSpline(
            control_points=grid.to(device),
            weights=coefficients.transpose(1, 2).expand(-1, -1, 2).to(device),
            affine=theta.transpose(1, 2).to(device),
        )

    def warp_coordinates(self, coordinates: Tensor) -> Tensor:
        """Map (B or 1, N, 2) points through the warps: (B, N, 2) float32."""
        return self.spline.warp_points(coordinates)

    def transform_frame(self, frame: Tensor) -> Tensor:
        """Warp (B, C, H, W) frames (sampling along the warp), reflecting at the border."""
        height, width = frame.shape[2:]
        grid = make_coordinate_grid((height, width), frame.device).reshape(1, -1, 2)
        with full_precision(frame.device):
            grid = self.warp_coordinates(grid).view(self.batch_size, height, width, 2)
        return warp(frame, grid, padding_mode="reflection")
