"""Equivariance of TPSMM's control points under a known random warp (Sec. 3.4)."""

from __future__ import annotations

from torch import Tensor

from fomm.losses.equivariance import equivariance_value_loss
from fomm.tpsmm.transforms import RandomTPSWarp


def control_point_equivariance_loss(
    kp_driving: dict[str, Tensor], kp_transformed: dict[str, Tensor], transform: RandomTPSWarp
) -> Tensor:
    """``mean |p - T(p')|``: FOMM's keypoint-value equivariance, on TPSMM's control points.

    Args:
        kp_driving: ``fg_kp`` of the driving frames.
        kp_transformed: ``fg_kp`` of the same frames warped by ``transform.transform_frame``.
        transform: the random warp.

    Returns:
        The unweighted loss (multiply by ``loss_weights.equivariance_value``).
    """
    return equivariance_value_loss(
        {"value": kp_driving["fg_kp"]}, {"value": kp_transformed["fg_kp"]}, transform
    )
