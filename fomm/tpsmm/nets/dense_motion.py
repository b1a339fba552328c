"""TPSMM's dense motion network: K thin-plate splines and a background affine into one flow."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.blocks import AntiAliasInterpolation2d, Hourglass, UpBlock2d
from fomm.nets.geometry import full_precision, kp2gaussian, make_coordinate_grid, warp_by_each
from fomm.tpsmm.nets.tps import POINTS_PER_TPS, ThinPlateSpline

# Occlusion masks of the multi-resolution variant: one per inpainting-network level (its
# three down blocks and the full resolution), as the official code fixes it.
NUM_OCCLUSION_MASKS = 4


def dropout_softmax(
    logits: Tensor, drop_probability: float, generator: torch.Generator | None = None
) -> Tensor:
    """Softmax over transforms with whole TPS transforms dropped (Eq. 7-8 of the paper).

    Each of the K TPS transforms (channels 1..K) is dropped for a whole image with
    probability ``drop_probability``; the background transform (channel 0) is always
    kept, so every pixel keeps at least one. The kept transforms share each pixel's
    weight by a softmax restricted to them. Why: early in training a few transforms would
    otherwise explain all the motion; dropping them forces every transform to learn.

    The official code subtracts the maximum over all transforms, dropped ones included,
    and adds 1e-6 to the partition function; where a dropped transform dominates, that
    guard makes its weights sum to less than 1. Here the softmax runs over the kept
    transforms only, so they always sum to 1.

    Args:
        logits: (B, K+1, H, W) contribution-map logits.
        drop_probability: P in [0, 1).
        generator: random generator for reproducible drops (CPU or the logits' device).

    Returns:
        (B, K+1, H, W) weights: zero for dropped transforms, summing to 1 at every pixel.
    """
    if not 0 <= drop_probability < 1:
        raise ValueError(f"dropout_p must be in [0, 1), got {drop_probability}")
    batch, num_transforms = logits.shape[:2]
    draws = torch.rand(
        batch, num_transforms, generator=generator, device=_generator_device(generator)
    )
    keep = draws.to(logits.device) < 1 - drop_probability
    keep[:, 0] = True
    dropped = ~keep.view(batch, num_transforms, 1, 1)
    return torch.softmax(logits.masked_fill(dropped, float("-inf")), dim=1)


def _generator_device(generator: torch.Generator | None) -> torch.device:
    """Where ``torch.rand`` must draw for this generator (the CPU without one)."""
    return generator.device if generator is not None else torch.device("cpu")


class DenseMotionNetwork(nn.Module):
    """Predict the backward optical flow driving -> source and the occlusion masks (Sec. 3.2).

    On the source downscaled by ``scale_factor``: K TPS transforms from the driving
    frame's control points to the source's, plus the background transform (the identity,
    or the affine ``bg_param``), warp the source K+1 times; with the differences of the
    driving and source control-point Gaussians these go through an hourglass whose last
    level gives K+1 contribution maps (softmax, optionally with TPS dropout), and the
    flow is the contribution-weighted sum of the transforms (Eq. 6). Occlusion masks come
    from the hourglass's two finest levels and from ``log2(1 / scale_factor)`` further up
    blocks (``multi_mask``, four masks, coarse to fine), or from the last level alone.

    Args:
        block_expansion: hourglass base width.
        num_blocks: hourglass depth.
        max_features: hourglass width cap.
        num_tps: number of TPS transforms K.
        num_channels: image channels.
        scale_factor: the motion is predicted on the image downscaled by this.
        bg: whether the model has background motion (``common_params.bg``; the transform
            itself comes in as ``bg_param``).
        multi_mask: four occlusion masks at the inpainting network's resolutions.
        kp_variance: variance of the control-point Gaussians.
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_tps: int,
        num_channels: int,
        scale_factor: float = 0.25,
        bg: bool = False,
        multi_mask: bool = True,
        kp_variance: float = 0.01,
    ) -> None:
        super().__init__()
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)
        self.scale_factor = scale_factor
        self.multi_mask = multi_mask
        self.num_tps = num_tps
        self.bg = bg
        self.kp_variance = kp_variance
        num_points = num_tps * POINTS_PER_TPS
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=num_channels * (num_tps + 1) + num_points + 1,
            max_features=max_features,
            num_blocks=num_blocks,
            norm=nn.InstanceNorm2d,
        )
        levels = self.hourglass.level_channels
        self.maps = nn.Conv2d(levels[-1], num_tps + 1, kernel_size=(7, 7), padding=(3, 3))
        if multi_mask:
            self.num_up = round(math.log2(1 / scale_factor))
            self.num_hourglass_masks = NUM_OCCLUSION_MASKS - self.num_up
            if not 0 <= self.num_hourglass_masks <= len(levels):
                raise ValueError(
                    f"multi_mask needs scale_factor 1, 0.5, 0.25 or 0.125 and an hourglass of "
                    f"at least {NUM_OCCLUSION_MASKS - self.num_up} blocks; got scale_factor "
                    f"{scale_factor}, num_blocks {num_blocks}"
                )
            up_channels = [levels[-1] // 2**i for i in range(self.num_up + 1)]
            self.up = nn.ModuleList(
                UpBlock2d(up_channels[i], up_channels[i + 1], norm=nn.InstanceNorm2d)
                for i in range(self.num_up)
            )
            mask_channels = levels[len(levels) - self.num_hourglass_masks :] + up_channels[1:]
        else:
            mask_channels = [levels[-1]]
        self.occlusion = nn.ModuleList(
            nn.Conv2d(channels, 1, kernel_size=(7, 7), padding=(3, 3)) for channels in mask_channels
        )

    def create_heatmap_representations(
        self, spatial_size: tuple[int, int], kp_driving: Tensor, kp_source: Tensor
    ) -> Tensor:
        """Driving minus source control-point Gaussians after a zero channel: (B, 5K+1, H, W)."""
        heatmap = kp2gaussian(kp_driving, spatial_size, self.kp_variance) - kp2gaussian(
            kp_source, spatial_size, self.kp_variance
        )
        zeros = heatmap.new_zeros(heatmap.shape[0], 1, *spatial_size)
        return torch.cat([zeros, heatmap], dim=1)

    def create_transformations(
        self,
        spatial_size: tuple[int, int],
        kp_driving: Tensor,
        kp_source: Tensor,
        bg_param: Tensor | None,
    ) -> Tensor:
        """The K+1 backward transforms as sampling grids: (B, K+1, H, W, 2), background first."""
        batch = kp_driving.shape[0]
        splines = ThinPlateSpline.fit(
            kp_driving.reshape(batch, self.num_tps, POINTS_PER_TPS, 2),
            kp_source.reshape(batch, self.num_tps, POINTS_PER_TPS, 2),
        )
        driving_to_source = splines.sampling_grid(spatial_size)
        identity = make_coordinate_grid(spatial_size, kp_driving.device)
        background = identity.expand(batch, 1, *identity.shape)
        if bg_param is not None:
            homogeneous = torch.cat(
                [background, background.new_ones(*background.shape[:-1], 1)], -1
            )
            moved = homogeneous @ bg_param.float().view(batch, 1, 1, 3, 3).transpose(-1, -2)
            background = moved[..., :2] / moved[..., 2:3]
        return torch.cat([background, driving_to_source], dim=1)

    def create_deformed_source_image(self, source_image: Tensor, transformations: Tensor) -> Tensor:
        """The source warped by each transform: (B, K+1, C, H, W)."""
        return warp_by_each(source_image, transformations)

    def forward(
        self,
        source_image: Tensor,
        kp_driving: dict[str, Tensor],
        kp_source: dict[str, Tensor],
        bg_param: Tensor | None = None,
        dropout_flag: bool = False,
        dropout_p: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor | list[Tensor]]:
        """Predict the dense motion from the source and the two sets of control points.

        Args:
            source_image: (B, C, H, W) in [0, 1].
            kp_driving: ``fg_kp`` (B, 5K, 2) of the driving frames.
            kp_source: ``fg_kp`` (B, 5K, 2) of the source.
            bg_param: (B, 3, 3) background affine (driving -> source), or None for none.
            dropout_flag: drop whole TPS transforms (training, Eq. 7-8).
            dropout_p: their drop probability.
            generator: random generator for the drops.

        Returns:
            ``deformed_source`` (B, K+1, C, h, w), ``contribution_maps`` (B, K+1, h, w),
            ``deformation`` (B, h, w, 2) and ``occlusion_map``, a list of (B, 1, ., .)
            masks coarse to fine (one without ``multi_mask``), at the downscaled size h x w
            and, for the multi-resolution masks, up to the input size.
        """
        small = self.down(source_image) if self.scale_factor != 1 else source_image
        batch, _, height, width = small.shape
        spatial_size = (height, width)
        with full_precision(small.device):
            points_driving = kp_driving["fg_kp"].float()
            points_source = kp_source["fg_kp"].float()
            heatmaps = self.create_heatmap_representations(
                spatial_size, points_driving, points_source
            )
            transformations = self.create_transformations(
                spatial_size, points_driving, points_source, bg_param
            )
            deformed_source = self.create_deformed_source_image(small.float(), transformations)
            hourglass_input = torch.cat(
                [heatmaps, deformed_source.view(batch, -1, height, width)], 1
            )
        levels = self.hourglass.forward_levels(hourglass_input)
        logits = self.maps(levels[-1])
        out: dict[str, Tensor | list[Tensor]] = {"deformed_source": deformed_source}
        with full_precision(small.device):
            logits = logits.float()
            if dropout_flag:
                contribution_maps = dropout_softmax(logits, dropout_p, generator)
            else:
                contribution_maps = F.softmax(logits, dim=1)
            out["contribution_maps"] = contribution_maps
            out["deformation"] = (transformations * contribution_maps.unsqueeze(-1)).sum(dim=1)
        out["occlusion_map"] = self._occlusion_maps(levels)
        return out

    def _occlusion_maps(self, levels: list[Tensor]) -> list[Tensor]:
        if not self.multi_mask:
            return [torch.sigmoid(self.occlusion[0](levels[-1]).float())]
        features = levels[len(levels) - self.num_hourglass_masks :]
        upsampled = levels[-1]
        for up_block in self.up:
            upsampled = up_block(upsampled)
            features.append(upsampled)
        return [
            torch.sigmoid(head(f).float()) for head, f in zip(self.occlusion, features, strict=True)
        ]
