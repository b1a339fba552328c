"""LSGAN losses and feature matching for the adversarial FOMM configs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from fomm.nets.discriminator import scale_key


def generator_gan_loss(maps_generated: dict, scales: Sequence[float], weight: float) -> Tensor:
    """LSGAN generator term: ``weight * mean((1 - D(G))^2)`` summed over discriminator scales."""
    total = torch.zeros((), device=_device(maps_generated))
    for scale in scales:
        prediction = maps_generated["prediction_map_" + scale_key(scale)].float()
        total = total + weight * ((1 - prediction) ** 2).mean()
    return total


def discriminator_gan_loss(
    maps_real: dict, maps_generated: dict, scales: Sequence[float], weight: float
) -> Tensor:
    """LSGAN discriminator term: ``weight * mean((1 - D(x))^2 + D(G)^2)`` summed over scales."""
    total = torch.zeros((), device=_device(maps_real))
    for scale in scales:
        key = "prediction_map_" + scale_key(scale)
        real, fake = maps_real[key].float(), maps_generated[key].float()
        total = total + weight * ((1 - real) ** 2 + fake**2).mean()
    return total


def feature_matching_loss(
    maps_real: dict, maps_generated: dict, scales: Sequence[float], weights: Sequence[float]
) -> Tensor:
    """L1 between the discriminator's feature maps on real and generated images.

    ``weights`` has one entry per discriminator block; zero entries are skipped.
    """
    total = torch.zeros((), device=_device(maps_real))
    for scale in scales:
        key = "feature_maps_" + scale_key(scale)
        for weight, real, fake in zip(weights, maps_real[key], maps_generated[key], strict=False):
            if weight != 0:
                total = total + weight * (real.float() - fake.float()).abs().mean()
    return total


def _device(maps: dict) -> torch.device:
    first = next(iter(maps.values()))
    return (first[0] if isinstance(first, list) else first).device
