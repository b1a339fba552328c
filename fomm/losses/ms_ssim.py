"""A structural-similarity term for the generator, for when VGG19 cannot be had.

The paper's perceptual loss compares VGG19 activations; without ImageNet weights (offline
machines, the tiny config) the stand-in is an L1 image pyramid, which is minimised by the
per-pixel mean of the plausible frames: a blur. MS-SSIM (Wang et al. 2003) compares local
means, contrasts and structure at several scales, so a smeared edge costs it even where
the L1 is small. It needs no weights: torchmetrics' implementation is used as is.

Not part of the paper: ``loss_weights.ms_ssim`` is 0 in the official recipes, and the
official checkpoints and configs keep loading without the key.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

# Wang et al.'s weights of the five scales; fewer scales take the first ones, renormalised.
_PAPER_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


class MultiScaleSSIMLoss(nn.Module):
    """``weight * (1 - MS-SSIM(prediction, target))`` on images in [0, 1].

    Five scales with an 11-pixel window need 161-pixel images; at 64 px three scales
    fit. Contrast terms are clamped at 0 (torchmetrics' ``normalize="relu"``): a negative
    one raised to a fractional power has no gradient.

    Args:
        weight: the loss weight (0 turns the term off).
        num_scales: scales of the MS-SSIM pyramid (1 to 5).
        kernel_size: side of the Gaussian window, in pixels (odd).
        sigma: its standard deviation.
    """

    def __init__(
        self, weight: float, num_scales: int = 3, kernel_size: int = 11, sigma: float = 1.5
    ) -> None:
        super().__init__()
        if not 1 <= num_scales <= len(_PAPER_BETAS):
            raise ValueError(f"ms_ssim num_scales={num_scales} must be in 1..{len(_PAPER_BETAS)}")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"ms_ssim kernel_size={kernel_size} must be odd and at least 3")
        self.weight = float(weight)
        chosen = _PAPER_BETAS[:num_scales]
        self.betas: Sequence[float] = tuple(b / sum(chosen) for b in chosen)
        self.kernel_size = kernel_size
        self.sigma = sigma

    @property
    def enabled(self) -> bool:
        """Whether the weight is non-zero."""
        return self.weight != 0

    def min_side(self) -> int:
        """The smallest image side these settings accept (torchmetrics' own condition)."""
        divisor = max(1, len(self.betas) - 1) ** 2
        return max(2 ** len(self.betas), divisor * (self.kernel_size - 1) + divisor)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        """Return the weighted loss, a scalar.

        Raises:
            ValueError: images smaller than :meth:`min_side`, naming the setting to lower.
        """
        side = min(prediction.shape[-2:])
        if side < self.min_side():
            raise ValueError(
                f"ms_ssim: {side}-pixel frames are too small for {len(self.betas)} scales and "
                f"an {self.kernel_size}-pixel window (at least {self.min_side()}); lower "
                "model.ms_ssim.num_scales or kernel_size"
            )
        similarity = multiscale_structural_similarity_index_measure(
            prediction.float(),
            target.float(),
            kernel_size=self.kernel_size,
            sigma=self.sigma,
            data_range=1.0,
            betas=tuple(self.betas),
            normalize="relu",
        )
        return self.weight * (1 - torch.as_tensor(similarity))
