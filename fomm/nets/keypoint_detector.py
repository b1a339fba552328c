"""The keypoint detector: K keypoints and their local affine Jacobians (Sec. 3.1 of the paper)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.blocks import AntiAliasInterpolation2d, Hourglass
from fomm.nets.geometry import full_precision, make_coordinate_grid


class KPDetector(nn.Module):
    """Predict keypoints as the expectation of softmax heatmaps, and a Jacobian near each.

    The image is first downscaled by ``scale_factor`` (anti-aliased); an hourglass gives
    features, a 7x7 head without padding gives one heatmap per keypoint, a spatial softmax
    with ``temperature`` makes it a distribution, and the keypoint is its mean over the
    [-1, 1] grid. The Jacobian head predicts 4 maps per keypoint (or one shared set with
    ``single_jacobian_map``), pooled with the same heatmap; it starts at the identity.

    Keypoint arithmetic runs in float32 even under autocast: a bf16 softmax over a few
    thousand pixels would move the keypoints by a visible fraction of a pixel.

    Args:
        block_expansion: hourglass base width.
        num_kp: number of keypoints K.
        num_channels: image channels.
        max_features: hourglass width cap.
        num_blocks: hourglass depth.
        temperature: softmax temperature of the heatmaps.
        estimate_jacobian: predict the local affine Jacobians (first-order model).
        scale_factor: input downscaling before the hourglass.
        single_jacobian_map: one Jacobian map set shared by all keypoints (mgif).
        pad: padding of the 7x7 heads (0 in every official config).
    """

    def __init__(
        self,
        block_expansion: int,
        num_kp: int,
        num_channels: int,
        max_features: int,
        num_blocks: int,
        temperature: float,
        estimate_jacobian: bool = False,
        scale_factor: float = 1,
        single_jacobian_map: bool = False,
        pad: int = 0,
    ) -> None:
        super().__init__()
        self.predictor = Hourglass(
            block_expansion,
            in_features=num_channels,
            max_features=max_features,
            num_blocks=num_blocks,
        )
        self.kp = nn.Conv2d(self.predictor.out_filters, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(
                self.predictor.out_filters,
                4 * self.num_jacobian_maps,
                kernel_size=(7, 7),
                padding=pad,
            )
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(
                    torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps)
                )
        else:
            self.jacobian = None
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Detect keypoints.

        Args:
            x: (B, C, H, W) images in [0, 1].

        Returns:
            ``value``: (B, K, 2) keypoints (x, y) in [-1, 1]; ``jacobian``: (B, K, 2, 2)
            where estimated.
        """
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        prediction = self.kp(feature_map)
        jacobian_map = self.jacobian(feature_map) if self.jacobian is not None else None
        with full_precision(x.device):
            prediction = prediction.float()
            batch, num_kp, height, width = prediction.shape
            heatmap = F.softmax(prediction.view(batch, num_kp, -1) / self.temperature, dim=2)
            heatmap = heatmap.view(batch, num_kp, height, width)
            grid = make_coordinate_grid((height, width), heatmap.device, heatmap.dtype)
            out = {"value": torch.einsum("bkhw,hwc->bkc", heatmap, grid)}
            if jacobian_map is not None:
                jacobian_map = jacobian_map.float().reshape(
                    batch, self.num_jacobian_maps, 4, height, width
                )
                jacobian = (heatmap.unsqueeze(2) * jacobian_map).sum(dim=(-2, -1))
                out["jacobian"] = jacobian.view(batch, num_kp, 2, 2)
        return out
