"""The occlusion-aware generator: encode the source, warp its features, decode (Sec. 3.2)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from fomm.nets.dense_motion import DenseMotionNetwork
from fomm.nets.geometry import warp


class OcclusionAwareGenerator(nn.Module):
    """Johnson-style encoder / residual bottleneck / decoder around a dense-motion warp.

    The source is encoded, its features are warped by the dense flow and multiplied by
    the occlusion map, then a residual bottleneck and a decoder with a sigmoid produce the
    frame. The encoding depends on the source only, so animation computes it once with
    :meth:`encode_source` and reuses it for every driving frame (:meth:`decode`).

    Args:
        num_channels: image channels.
        num_kp: number of keypoints.
        block_expansion: base width.
        max_features: width cap.
        num_down_blocks: encoder/decoder depth.
        num_bottleneck_blocks: residual blocks at the lowest resolution.
        estimate_occlusion_map: multiply warped features by a predicted occlusion map.
        dense_motion_params: :class:`DenseMotionNetwork` arguments; None for no warp.
        estimate_jacobian: accepted for config compatibility (``common_params``); the
            dense motion network reads the Jacobians from the keypoint dicts.
        align_corners: ``grid_sample`` convention; True is what the published models used.
    """

    def __init__(
        self,
        num_channels: int,
        num_kp: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        num_bottleneck_blocks: int,
        estimate_occlusion_map: bool = False,
        dense_motion_params: dict[str, Any] | None = None,
        estimate_jacobian: bool = False,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners,
                **dense_motion_params,
            )
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                min(max_features, block_expansion * (2**i)),
                min(max_features, block_expansion * (2 ** (i + 1))),
                kernel_size=(3, 3),
                padding=(1, 1),
            )
            for i in range(num_down_blocks)
        )
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                min(max_features, block_expansion * (2 ** (num_down_blocks - i))),
                min(max_features, block_expansion * (2 ** (num_down_blocks - i - 1))),
                kernel_size=(3, 3),
                padding=(1, 1),
            )
            for i in range(num_down_blocks)
        )
        self.bottleneck = nn.Sequential()
        bottleneck_features = min(max_features, block_expansion * (2**num_down_blocks))
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module(
                f"r{i}", ResBlock2d(bottleneck_features, kernel_size=(3, 3), padding=(1, 1))
            )
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners

    def deform_input(self, inp: Tensor, deformation: Tensor) -> Tensor:
        """Warp ``inp`` by a (B, h, w, 2) flow, resizing the flow bilinearly to ``inp``'s size."""
        _, h_flow, w_flow, _ = deformation.shape
        _, _, height, width = inp.shape
        if (h_flow, w_flow) != (height, width):
            deformation = F.interpolate(
                deformation.permute(0, 3, 1, 2), size=(height, width), mode="bilinear"
            ).permute(0, 2, 3, 1)
        return warp(inp, deformation, self.align_corners)

    def encode_source(self, source_image: Tensor) -> dict[str, Tensor]:
        """Everything that depends on the source only: its features and downscaled image."""
        features = self.first(source_image)
        for down_block in self.down_blocks:
            features = down_block(features)
        encoded = {"image": source_image, "features": features}
        if self.dense_motion_network is not None:
            encoded["motion_image"] = self.dense_motion_network.downscale(source_image)
        return encoded

    def decode(
        self,
        encoded: dict[str, Tensor],
        kp_driving: dict[str, Tensor],
        kp_source: dict[str, Tensor],
        visualize: bool = True,
    ) -> dict[str, Tensor]:
        """Render the source (from :meth:`encode_source`) in the driving keypoints' pose.

        A batch-1 encoding may be paired with B driving keypoint sets; it is broadcast.

        Args:
            encoded: the output of :meth:`encode_source`.
            kp_driving: (B, K, 2) ``value`` and optionally (B, K, 2, 2) ``jacobian``.
            kp_source: the source's keypoints, batch 1 or B.
            visualize: also return ``deformed`` (the source warped at full resolution).
        """
        out = encoded["features"]
        batch = kp_driving["value"].shape[0]
        if out.shape[0] != batch:
            out = out.expand(batch, *out.shape[1:])
            kp_source = {k: v.expand(batch, *v.shape[1:]) for k, v in kp_source.items()}
        output: dict[str, Tensor] = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(
                encoded["motion_image"], kp_driving=kp_driving, kp_source=kp_source, downscaled=True
            )
            output["mask"] = motion["mask"]
            output["sparse_deformed"] = motion["sparse_deformed"]
            deformation = motion["deformation"]
            out = self.deform_input(out, deformation)
            occlusion_map = motion.get("occlusion_map")
            if occlusion_map is not None:
                output["occlusion_map"] = occlusion_map
                if out.shape[2:] != occlusion_map.shape[2:]:
                    occlusion_map = F.interpolate(
                        occlusion_map, size=out.shape[2:], mode="bilinear"
                    )
                out = out * occlusion_map.to(out.dtype)
            if visualize:
                image = encoded["image"]
                if image.shape[0] != batch:
                    image = image.expand(batch, *image.shape[1:])
                output["deformed"] = self.deform_input(image, deformation)
        out = self.bottleneck(out)
        for up_block in self.up_blocks:
            out = up_block(out)
        output["prediction"] = torch.sigmoid(self.final(out).float())
        return output

    def forward(
        self, source_image: Tensor, kp_driving: dict[str, Tensor], kp_source: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Animate ``source_image`` from ``kp_source`` to ``kp_driving``.

        Returns:
            ``prediction`` (B, C, H, W) in [0, 1]; with a dense motion network also ``mask``,
            ``sparse_deformed``, ``deformed`` and, where estimated, ``occlusion_map``.
        """
        return self.decode(self.encode_source(source_image), kp_driving, kp_source)
