"""The multi-scale PatchGAN discriminator of the adversarial FOMM configs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.geometry import kp2gaussian


def scale_key(scale: float) -> str:
    """The name a pyramid scale has in dict keys and module names: ``1``, ``0.5``, ``0.25``.

    Why: the original builds names from ``str(scale)`` of the yaml value, so ``1`` and
    ``1.0`` would give different checkpoint keys; integral scales are written as integers.
    """
    scale = float(scale)
    return str(int(scale)) if scale.is_integer() else str(scale)


class DownBlock2d(nn.Module):
    """4x4 conv (optionally spectral-normalised), instance norm, LeakyReLU(0.2), avg pool."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        norm: bool = False,
        kernel_size: int = 4,
        pool: bool = False,
        sn: bool = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.norm = nn.InstanceNorm2d(out_features, affine=True) if norm else None
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, (2, 2))
        return out


class Discriminator(nn.Module):
    """Pix2Pix-style patch discriminator, optionally conditioned on keypoint heatmaps.

    Args:
        num_channels: image channels.
        block_expansion: base width.
        num_blocks: number of down blocks (feature maps for feature matching).
        max_features: width cap.
        sn: spectral normalisation on every conv.
        use_kp: concatenate the driving keypoints' Gaussians to the input.
        num_kp: number of keypoints (input channels when ``use_kp``).
        kp_variance: variance of those Gaussians.
    """

    def __init__(
        self,
        num_channels: int = 3,
        block_expansion: int = 64,
        num_blocks: int = 4,
        max_features: int = 512,
        sn: bool = False,
        use_kp: bool = False,
        num_kp: int = 10,
        kp_variance: float = 0.01,
        **_: object,
    ) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                num_channels + num_kp * use_kp
                if i == 0
                else min(max_features, block_expansion * (2**i)),
                min(max_features, block_expansion * (2 ** (i + 1))),
                norm=(i != 0),
                kernel_size=4,
                pool=(i != num_blocks - 1),
                sn=sn,
            )
            for i in range(num_blocks)
        )
        last_features = min(max_features, block_expansion * (2**num_blocks))
        self.conv = nn.Conv2d(last_features, out_channels=1, kernel_size=1)
        if sn:
            self.conv = nn.utils.spectral_norm(self.conv)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(
        self, x: Tensor, kp: dict[str, Tensor] | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """Return every block's feature map and the patch prediction map."""
        out = x
        if self.use_kp:
            if kp is None:
                raise ValueError("this discriminator has use_kp=True: pass the driving keypoints")
            heatmap = kp2gaussian(kp["value"], tuple(x.shape[2:]), self.kp_variance)
            out = torch.cat([out, heatmap.to(out.dtype)], dim=1)
        feature_maps = []
        for down_block in self.down_blocks:
            out = down_block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


class MultiScaleDiscriminator(nn.Module):
    """One :class:`Discriminator` per pyramid scale.

    Args:
        scales: the image scales judged, e.g. ``[1]``.
        **kwargs: :class:`Discriminator` arguments.
    """

    def __init__(self, scales: Sequence[float] = (), **kwargs: object) -> None:
        super().__init__()
        self.scales = list(scales)
        self.discs = nn.ModuleDict(
            {scale_key(scale).replace(".", "-"): Discriminator(**kwargs) for scale in scales}
        )

    def forward(
        self, pyramid: dict[str, Tensor], kp: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor | list[Tensor]]:
        """Judge an image pyramid.

        Args:
            pyramid: ``prediction_<scale>`` images (see :class:`fomm.losses.ImagePyramid`).
            kp: the driving keypoints, for keypoint-conditioned discriminators.

        Returns:
            ``feature_maps_<scale>`` (list of maps) and ``prediction_map_<scale>`` per scale.
        """
        out: dict[str, Tensor | list[Tensor]] = {}
        for name, disc in self.discs.items():
            scale = name.replace("-", ".")
            feature_maps, prediction_map = disc(pyramid["prediction_" + scale], kp)
            out["feature_maps_" + scale] = feature_maps
            out["prediction_map_" + scale] = prediction_map
        return out
