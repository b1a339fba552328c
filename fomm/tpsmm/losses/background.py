"""TPSMM's background loss: the two directions' background affines must be inverses."""

from __future__ import annotations

import torch
from torch import Tensor


def background_cycle_loss(bg_param: Tensor, bg_param_reverse: Tensor) -> Tensor:
    """``mean |I - A_{S<-D} A_{D<-S}|`` over the 3x3 entries.

    Why: the background predictor sees (source, driving) and (driving, source); without
    a constraint nothing ties the two, and the affine could drift to absorb foreground
    motion. Composed, the two must give the identity.

    Args:
        bg_param: (B, 3, 3) from ``bg_predictor(source, driving)``.
        bg_param_reverse: (B, 3, 3) from ``bg_predictor(driving, source)``.

    Returns:
        The unweighted loss (multiply by ``loss_weights.bg``).
    """
    product = bg_param.float() @ bg_param_reverse.float()
    eye = torch.eye(3, device=product.device, dtype=product.dtype)
    return (eye - product).abs().mean()
