"""The AVD stage's objective: recover the driving points from randomly rescaled ones."""

from __future__ import annotations

import torch
from torch import Tensor


def random_scale(
    kp: dict[str, Tensor], scale: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Stretch each item's control points by random factors in [1 - scale, 1 + scale] per axis.

    Why: a rescaled pose is what another identity with the same pose looks like to the
    pose encoder; the AVD network must undo it using the source's identity code.

    Args:
        kp: ``fg_kp`` (B, N, 2).
        scale: ``train_avd_params.random_scale``.
        generator: a random generator (on the CPU), for reproducible draws.
    """
    points = kp["fg_kp"]
    factors = torch.rand(points.shape[0], 1, 2, generator=generator) * (2 * scale) + (1 - scale)
    return {"fg_kp": points * factors.to(points.device, points.dtype)}


def avd_reconstruction_loss(
    kp_driving: dict[str, Tensor], reconstructed: dict[str, Tensor]
) -> Tensor:
    """``mean |p_D - AVD(p_S, scale(p_D))|`` (unweighted; multiply by ``lambda_shift``)."""
    return (kp_driving["fg_kp"].float() - reconstructed["fg_kp"].float()).abs().mean()
