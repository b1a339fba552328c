"""TPSMM's warp loss: the source's warped features should be the driving frame's (Sec. 3.4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def warp_loss(
    driving_encoder_maps: Sequence[Tensor], warped_encoder_maps: Sequence[Tensor]
) -> Tensor:
    """Sum over levels of ``mean |E(D)_l * M_l - warp(E(S)_l) * M_l|``.

    Why: the flow is judged in feature space too, not only through the decoded image, so
    the encoder maps of the warped source line up with those of the driving frame where
    the source is visible.

    Args:
        driving_encoder_maps: the driving frame's occluded encoder maps, finest first
            (``InpaintingNetwork.encode_occluded``; no gradient).
        warped_encoder_maps: the inpainting output's ``warped_encoder_maps``, coarsest first.

    Returns:
        The unweighted loss (multiply by ``loss_weights.warp_loss``).

    Raises:
        ValueError: the two lists differ in length or in a level's shape.
    """
    if len(driving_encoder_maps) != len(warped_encoder_maps):
        raise ValueError(
            f"warp loss: {len(driving_encoder_maps)} driving encoder maps but "
            f"{len(warped_encoder_maps)} warped ones"
        )
    total = torch.zeros((), device=warped_encoder_maps[0].device)
    for driving, warped in zip(driving_encoder_maps, reversed(warped_encoder_maps), strict=True):
        if driving.shape != warped.shape:
            raise ValueError(
                f"warp loss: level shapes differ, {tuple(driving.shape)} vs {tuple(warped.shape)}"
            )
        total = total + (driving.float() - warped.float()).abs().mean()
    return total
