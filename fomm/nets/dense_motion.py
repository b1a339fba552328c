"""The dense motion network: from K sparse local motions to one dense flow and an occlusion map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.blocks import AntiAliasInterpolation2d, Hourglass
from fomm.nets.geometry import (
    full_precision,
    inverse_2x2,
    kp2gaussian,
    make_coordinate_grid,
    warp_by_each,
)


class DenseMotionNetwork(nn.Module):
    """Predict the backward flow driving -> source and, optionally, an occlusion map (Sec. 3.2).

    From K+1 candidate motions (the identity for the background, and for each keypoint
    ``p_S + J_S J_D^-1 (z - p_D)``), the source image warped by each, and the difference
    of the driving and source keypoint Gaussians, an hourglass predicts a softmax mask over
    the K+1 motions; the dense flow is the mask-weighted sum of the motions.

    Args:
        block_expansion: hourglass base width.
        num_blocks: hourglass depth.
        max_features: hourglass width cap.
        num_kp: number of keypoints K.
        num_channels: image channels.
        estimate_occlusion_map: also predict where the source is occluded.
        scale_factor: the motion is predicted on the image downscaled by this.
        kp_variance: variance of the keypoint Gaussians.
        align_corners: ``grid_sample`` convention; True is what the published models used.
    """

    def __init__(
        self,
        block_expansion: int,
        num_blocks: int,
        max_features: int,
        num_kp: int,
        num_channels: int,
        estimate_occlusion_map: bool = False,
        scale_factor: float = 1,
        kp_variance: float = 0.01,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        self.hourglass = Hourglass(
            block_expansion=block_expansion,
            in_features=(num_kp + 1) * (num_channels + 1),
            max_features=max_features,
            num_blocks=num_blocks,
        )
        self.mask = nn.Conv2d(
            self.hourglass.out_filters, num_kp + 1, kernel_size=(7, 7), padding=(3, 3)
        )
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(
                self.hourglass.out_filters, 1, kernel_size=(7, 7), padding=(3, 3)
            )
        else:
            self.occlusion = None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def downscale(self, source_image: Tensor) -> Tensor:
        """The source at the resolution the motion is predicted at (computed once per source)."""
        return self.down(source_image) if self.scale_factor != 1 else source_image

    def create_heatmap_representations(
        self, spatial_size: tuple[int, int], kp_driving: dict, kp_source: dict
    ) -> Tensor:
        """Driving minus source keypoint Gaussians, with a zero background channel (Eq. 6).

        Returns:
            (B, K+1, 1, H, W).
        """
        heatmap = kp2gaussian(kp_driving["value"], spatial_size, self.kp_variance) - kp2gaussian(
            kp_source["value"], spatial_size, self.kp_variance
        )
        background = heatmap.new_zeros(heatmap.shape[0], 1, *heatmap.shape[2:])
        return torch.cat([background, heatmap], dim=1).unsqueeze(2)

    def create_sparse_motions(
        self, spatial_size: tuple[int, int], kp_driving: dict, kp_source: dict
    ) -> Tensor:
        """The K+1 candidate backward motions T_{S<-D}(z) (Eq. 4).

        Returns:
            (B, K+1, H, W, 2) sampling grids in [-1, 1].
        """
        value_driving = kp_driving["value"]
        batch = value_driving.shape[0]
        identity = make_coordinate_grid(spatial_size, value_driving.device, value_driving.dtype)
        relative = identity - value_driving.view(batch, self.num_kp, 1, 1, 2)
        if "jacobian" in kp_driving:
            jacobian = kp_source["jacobian"] @ inverse_2x2(kp_driving["jacobian"])
            relative = torch.einsum("bkij,bkhwj->bkhwi", jacobian, relative)
        driving_to_source = relative + kp_source["value"].view(batch, self.num_kp, 1, 1, 2)
        background = identity.expand(batch, 1, *identity.shape)
        return torch.cat([background, driving_to_source], dim=1)

    def create_deformed_source_image(self, source_image: Tensor, sparse_motions: Tensor) -> Tensor:
        """The source warped by each candidate motion (Eq. 7): (B, K+1, C, H, W)."""
        return warp_by_each(source_image, sparse_motions, self.align_corners)

    def forward(
        self, source_image: Tensor, kp_driving: dict, kp_source: dict, downscaled: bool = False
    ) -> dict[str, Tensor]:
        """Predict the dense motion.

        Args:
            source_image: (B, C, H, W) source frames (B may be 1 with B' driving keypoints).
            kp_driving: driving keypoints (``value``, optionally ``jacobian``).
            kp_source: source keypoints.
            downscaled: ``source_image`` already went through :meth:`downscale`.

        Returns:
            ``sparse_deformed`` (B, K+1, C, h, w), ``mask`` (B, K+1, h, w), ``deformation``
            (B, h, w, 2) and, where estimated, ``occlusion_map`` (B, 1, h, w), at the
            downscaled resolution h x w.
        """
        small = source_image if downscaled else self.downscale(source_image)
        batch = kp_driving["value"].shape[0]
        if small.shape[0] != batch:
            small = small.expand(batch, *small.shape[1:])
        spatial_size = (small.shape[2], small.shape[3])
        with full_precision(small.device):
            kp_driving = {k: v.float() for k, v in kp_driving.items()}
            kp_source = {k: v.float() for k, v in kp_source.items()}
            heatmaps = self.create_heatmap_representations(spatial_size, kp_driving, kp_source)
            sparse_motion = self.create_sparse_motions(spatial_size, kp_driving, kp_source)
            deformed_source = self.create_deformed_source_image(small.float(), sparse_motion)
            hourglass_input = torch.cat([heatmaps, deformed_source], dim=2)
        out = {"sparse_deformed": deformed_source}
        hourglass_input = hourglass_input.view(batch, -1, *spatial_size)
        hourglass_input = hourglass_input.contiguous(memory_format=_memory_format(source_image))
        prediction = self.hourglass(hourglass_input)
        mask_logits = self.mask(prediction)
        occlusion_logits = self.occlusion(prediction) if self.occlusion is not None else None
        with full_precision(small.device):
            mask = F.softmax(mask_logits.float(), dim=1)
            out["mask"] = mask
            out["deformation"] = (sparse_motion * mask.unsqueeze(-1)).sum(dim=1)
            if occlusion_logits is not None:
                out["occlusion_map"] = torch.sigmoid(occlusion_logits.float())
        return out


def _memory_format(reference: Tensor) -> torch.memory_format:
    """Keep channels-last inputs channels-last through reshapes that drop the layout."""
    channels_last = reference.dim() == 4 and reference.is_contiguous(
        memory_format=torch.channels_last
    )
    if channels_last and not reference.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
