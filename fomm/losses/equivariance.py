"""Equivariance of keypoints and Jacobians under a known random warp (Sec. 3.3)."""

from __future__ import annotations

import torch
from torch import Tensor

from fomm.nets.geometry import full_precision, inverse_2x2
from fomm.transforms import RandomTPSTransform


def equivariance_value_loss(
    kp_driving: dict[str, Tensor], kp_transformed: dict[str, Tensor], transform: RandomTPSTransform
) -> Tensor:
    """``mean |p - T(p')|`` with p the driving keypoints and p' those of the warped frame."""
    with full_precision(kp_driving["value"].device):
        warped = transform.warp_coordinates(kp_transformed["value"].float())
        return (kp_driving["value"].float() - warped).abs().mean()


def equivariance_jacobian_loss(
    kp_driving: dict[str, Tensor], kp_transformed: dict[str, Tensor], transform: RandomTPSTransform
) -> Tensor:
    """``mean |I - J^-1 (dT(p') J')|``: the Jacobians must compose like the warp does."""
    with full_precision(kp_driving["value"].device):
        points = kp_transformed["value"].float()
        jacobian_transformed = transform.jacobian(points) @ kp_transformed["jacobian"].float()
        value = inverse_2x2(kp_driving["jacobian"].float()) @ jacobian_transformed
        eye = torch.eye(2, dtype=value.dtype, device=value.device)
        return (eye - value).abs().mean()
