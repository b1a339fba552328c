"""The anti-aliased image pyramid that the perceptual and adversarial losses look at."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from fomm.nets.blocks import AntiAliasInterpolation2d
from fomm.nets.discriminator import scale_key


class ImagePyramid(nn.Module):
    """Downscale an image to every scale in ``scales`` (scale 1 is the image itself).

    Keys of the output are ``prediction_<scale>`` (``prediction_1``, ``prediction_0.5`` ...),
    the names the discriminator reads.

    Args:
        scales: e.g. ``[1, 0.5, 0.25, 0.125]``.
        num_channels: image channels.
    """

    def __init__(self, scales: Sequence[float], num_channels: int) -> None:
        super().__init__()
        self.scales = [float(s) for s in scales]
        self.downs = nn.ModuleDict(
            {
                scale_key(s).replace(".", "-"): AntiAliasInterpolation2d(num_channels, float(s))
                for s in scales
            }
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:  # noqa: D102
        return {
            "prediction_" + name.replace("-", "."): down(x) for name, down in self.downs.items()
        }
