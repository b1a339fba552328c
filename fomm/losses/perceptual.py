"""The multi-scale perceptual loss (Sec. 3.3 of the paper)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from fomm.losses.vgg import Vgg19Features
from fomm.nets.discriminator import scale_key


class PerceptualPyramidLoss(nn.Module):
    """Weighted L1 between VGG19 activations of prediction and target, at every pyramid scale.

    ``sum_scale sum_i w_i * mean|VGG_i(prediction_s) - VGG_i(target_s)|``, with the layer
    weights ``w`` of ``loss_weights.perceptual`` (relu1_1 ... relu5_1). Only the layers up to
    the last non-zero weight are computed, and the target's activations are computed
    without a graph: neither changes the value.

    ``network: pixels`` replaces VGG by the identity: an L1 loss on the image pyramid
    itself, with one weight. It needs no weights and is far cheaper, but it is not the
    paper's loss (it trains blurrier images); the tiny config uses it (docs/fomm.md).

    Args:
        scales: pyramid scales (``train_params.scales``).
        layer_weights: one weight per VGG stage, at most five (one for ``pixels``).
        network: ``vgg19`` (the paper) or ``pixels``.
        pretrained: ImageNet VGG19 weights (see :mod:`fomm.losses.vgg`).
        weights_path: a local VGG19 weights file, preferred over the download.
    """

    def __init__(
        self,
        scales: Sequence[float],
        layer_weights: Sequence[float],
        network: str = "vgg19",
        pretrained: bool = True,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        if network not in ("vgg19", "pixels"):
            raise ValueError(f"perceptual network must be 'vgg19' or 'pixels', got {network!r}")
        limit = 5 if network == "vgg19" else 1
        if len(layer_weights) > limit:
            raise ValueError(
                f"loss_weights.perceptual has {len(layer_weights)} entries; the {network} "
                f"perceptual network gives {limit} (VGG19: relu1_1 ... relu5_1)"
            )
        self.network = network
        self.scales = [scale_key(s) for s in scales]
        self.layer_weights = [float(w) for w in layer_weights]
        used = [i for i, w in enumerate(self.layer_weights) if w != 0]
        self.vgg = (
            Vgg19Features(pretrained, weights_path, num_slices=used[-1] + 1)
            if used and network == "vgg19"
            else None
        )
        self._enabled = bool(used)

    @classmethod
    def from_config(
        cls, train_params: dict[str, Any], perceptual_network: dict[str, Any]
    ) -> PerceptualPyramidLoss:
        """The loss an official ``train_params`` asks for (``scales``, ``loss_weights``).

        ``perceptual_network`` is the module's ``perceptual_network`` option (``network``,
        ``pretrained``, ``weights_path``): both motion models' modules build it this way.
        """
        return cls(
            train_params["scales"],
            train_params["loss_weights"]["perceptual"],
            network=perceptual_network.get("network", "vgg19"),
            pretrained=perceptual_network.get("pretrained", True),
            weights_path=perceptual_network.get("weights_path"),
        )

    @property
    def enabled(self) -> bool:
        """Whether any layer weight is non-zero."""
        return self._enabled

    def _features(self, image: Tensor) -> list[Tensor]:
        return [image] if self.vgg is None else self.vgg(image)

    def forward(
        self, pyramid_generated: dict[str, Tensor], pyramid_real: dict[str, Tensor]
    ) -> Tensor:
        """Return the weighted loss (a scalar); zero when every weight is zero."""
        reference = pyramid_generated["prediction_" + self.scales[0]]
        total = reference.new_zeros((), dtype=torch.float32)
        if not self.enabled:
            return total
        for scale in self.scales:
            key = "prediction_" + scale
            generated = self._features(pyramid_generated[key])
            with torch.no_grad():
                real = self._features(pyramid_real[key])
            for weight, gen_act, real_act in zip(self.layer_weights, generated, real, strict=False):
                if weight != 0:
                    total = total + weight * (gen_act.float() - real_act.float()).abs().mean()
        return total
