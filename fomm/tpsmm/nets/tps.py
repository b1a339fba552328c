"""Thin-plate-spline warps between two sets of control points (Eq. 1-2 of the TPSMM paper).

A thin-plate spline is the smoothest map (minimum bending energy) that takes given points
``p_i`` to given points ``q_i``: ``T(z) = A [z; 1] + sum_i w_i U(|z - p_i|^2)`` with the
radial basis ``U(s) = s log s`` of the squared distance ``s``. Its coefficients solve one
linear system per spline. TPSMM fits K splines per frame pair, each from the driving
frame's 5 control points to the source's, and samples the source along them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from fomm.nets.geometry import full_precision, make_coordinate_grid

# Control points per spline (the paper's N = 5).
POINTS_PER_TPS = 5
# Keeps log() finite where a point coincides with a control point (the basis is 0 there).
_LOG_EPS = 1e-9
# Added to the whole system matrix by the official code; the published weights were
# trained with it, so the splines only nearly interpolate their control points.
OFFICIAL_REGULARIZATION = 0.01


def radial_basis(squared_distance: Tensor) -> Tensor:
    """``U(s) = s log s`` of squared distances (zero at zero distance)."""
    return squared_distance * torch.log(squared_distance + _LOG_EPS)


def _squared_distances(points: Tensor, control_points: Tensor) -> Tensor:
    """(..., N, 2) and (..., n, 2) -> (..., N, n) squared Euclidean distances."""
    return ((points.unsqueeze(-2) - control_points.unsqueeze(-3)) ** 2).sum(-1)


@dataclass
class ThinPlateSpline:
    """A batch of fitted splines: ``control_points`` (..., n, 2) and their coefficients.

    ``weights`` (..., n, 2) multiply the radial basis, ``affine`` (..., 3, 2) the
    homogeneous coordinates ``[x, y, 1]``; build one with :meth:`fit`.
    """

    control_points: Tensor
    weights: Tensor
    affine: Tensor

    @classmethod
    def fit(
        cls,
        source_points: Tensor,
        target_points: Tensor,
        regularization: float = OFFICIAL_REGULARIZATION,
    ) -> ThinPlateSpline:
        """Fit the splines mapping ``source_points`` to ``target_points``.

        The system is ``[[U(P, P), P~], [P~^T, 0]] + regularization * I`` against
        ``[target; 0]``, where ``P~`` holds the points in homogeneous coordinates. With
        ``regularization=0`` the spline interpolates exactly (the points must not all lie
        on one line); the default is the official code's value, needed for its weights.

        Args:
            source_points: (..., n, 2) points in [-1, 1] where the spline is anchored
                (TPSMM: the driving frame's control points).
            target_points: (..., n, 2) where they must go (the source's control points).
            regularization: added to the system's diagonal.
        """
        with full_precision(source_points.device):
            source_points = source_points.float()
            target_points = target_points.float()
            num_points = source_points.shape[-2]
            kernel = radial_basis(_squared_distances(source_points, source_points))
            homogeneous = torch.cat(
                [source_points, source_points.new_ones(*source_points.shape[:-1], 1)], dim=-1
            )
            zeros = source_points.new_zeros(*source_points.shape[:-2], 3, 3)
            system = torch.cat(
                [
                    torch.cat([kernel, homogeneous], dim=-1),
                    torch.cat([homogeneous.transpose(-1, -2), zeros], dim=-1),
                ],
                dim=-2,
            )
            if regularization:
                eye = torch.eye(num_points + 3, device=system.device, dtype=system.dtype)
                system = system + regularization * eye
            rhs = torch.cat(
                [target_points, target_points.new_zeros(*target_points.shape[:-2], 3, 2)],
                dim=-2,
            )
            solution = torch.linalg.solve(system, rhs)
        return cls(source_points, solution[..., :num_points, :], solution[..., num_points:, :])

    def warp_points(self, points: Tensor) -> Tensor:
        """Map points through every spline.

        Args:
            points: (..., N, 2), broadcastable against the splines' leading dimensions
                (e.g. one (1, 1, N, 2) grid for (B, K) splines).

        Returns:
            (..., N, 2) warped points, float32.
        """
        with full_precision(points.device):
            points = points.float()
            affine = points @ self.affine[..., :2, :] + self.affine[..., 2:, :]
            basis = radial_basis(_squared_distances(points, self.control_points))
            return affine + basis @ self.weights

    def sampling_grid(self, spatial_size: tuple[int, int]) -> Tensor:
        """Each spline evaluated on the (H, W) pixel grid: (..., H, W, 2) for ``grid_sample``."""
        height, width = spatial_size
        grid = make_coordinate_grid((height, width), self.control_points.device)
        leading = self.control_points.shape[:-2]
        flat = grid.reshape(*(1 for _ in leading), height * width, 2)
        return self.warp_points(flat).reshape(*leading, height, width, 2)
