"""TPSMM's inpainting network: warp and occlude the source's features at every level, decode."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.blocks import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from fomm.nets.geometry import warp


def resize_flow(deformation: Tensor, size: tuple[int, int]) -> Tensor:
    """A (B, h, w, 2) sampling grid resized bilinearly (corners aligned) to (B, H, W, 2)."""
    if tuple(deformation.shape[1:3]) == tuple(size):
        return deformation
    resized = F.interpolate(
        deformation.permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=True
    )
    return resized.permute(0, 2, 3, 1)


class InpaintingNetwork(nn.Module):
    """Encoder / decoder that renders the source in the driving pose (Sec. 3.3 of the paper).

    The source is encoded at ``num_down_blocks + 1`` resolutions; every encoder map is
    warped by the dense flow and multiplied by the occlusion mask of its resolution
    (``multi_mask``) or by the single mask resized. The decoder starts from the deepest
    warped map and, at each finer level, upsamples and concatenates that level's warped
    map; the output mixes the decoded image where the source is occluded with the warped
    source where it is visible. The warped maps are also returned for the warp loss,
    which compares them with the driving frame's own encoder maps (:meth:`encode_occluded`);
    they are computed from detached features and masks, so that loss trains the flow only.

    Channel widths follow the official code, which counts the decoder down from
    ``max_features``; that matches the encoder only when ``max_features`` equals
    ``block_expansion * 2 ** num_down_blocks`` (true of every official config).

    Args:
        num_channels: image channels.
        block_expansion: width of the first level.
        max_features: width of the deepest level.
        num_down_blocks: encoder depth (3 in the official configs, which ``multi_mask`` needs).
        multi_mask: one occlusion mask per level (else one mask for all).
        **unused: other ``common_params`` (``num_tps``, ``bg``), accepted as the original does.
    """

    def __init__(
        self,
        num_channels: int,
        block_expansion: int,
        max_features: int,
        num_down_blocks: int,
        multi_mask: bool = True,
        **unused: object,
    ) -> None:
        super().__init__()
        if max_features != block_expansion * 2**num_down_blocks:
            raise ValueError(
                f"generator_params: max_features ({max_features}) must equal block_expansion "
                f"* 2 ** num_down_blocks ({block_expansion * 2**num_down_blocks}) for the "
                "inpainting network's decoder to meet its encoder"
            )
        norm = nn.InstanceNorm2d
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask
        self.num_channels = num_channels
        self.first = SameBlock2d(
            num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3), norm=norm
        )
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                block_expansion * 2**i,
                block_expansion * 2 ** (i + 1),
                kernel_size=(3, 3),
                padding=(1, 1),
                norm=norm,
            )
            for i in range(num_down_blocks)
        )
        # Decoder level i (coarse to fine) reads the deepest map, or the previous level's
        # output concatenated with the warped encoder map of the same size.
        decoder_in = [max_features] + [
            max_features // 2 ** (i - 1) for i in range(1, num_down_blocks)
        ]
        self.up_blocks = nn.ModuleList(
            UpBlock2d(
                decoder_in[i],
                max_features // 2 ** (i + 1),
                kernel_size=(3, 3),
                padding=(1, 1),
                norm=norm,
            )
            for i in range(num_down_blocks)
        )
        self.resblock = nn.ModuleList(
            ResBlock2d(channels, kernel_size=(3, 3), padding=(1, 1), norm=norm)
            for channels in decoder_in
            for _ in range(2)
        )
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))

    def deform_input(self, inp: Tensor, deformation: Tensor) -> Tensor:
        """Warp ``inp`` by the flow, resized to ``inp``'s size."""
        return warp(inp, resize_flow(deformation, tuple(inp.shape[2:])))

    def occlude_input(self, inp: Tensor, occlusion_map: Tensor) -> Tensor:
        """Multiply by the occlusion mask (resized to ``inp`` for the single-mask variant)."""
        if not self.multi_mask and occlusion_map.shape[2:] != inp.shape[2:]:
            occlusion_map = F.interpolate(
                occlusion_map, size=inp.shape[2:], mode="bilinear", align_corners=True
            )
        return inp * occlusion_map.to(inp.dtype)

    def _mask(self, occlusion_map: list[Tensor], level: int) -> Tensor:
        """The mask of decoder level ``level`` (0 = the deepest map)."""
        if not self.multi_mask:
            return occlusion_map[0]
        if len(occlusion_map) != self.num_down_blocks + 1:
            raise ValueError(
                f"multi_mask needs {self.num_down_blocks + 1} occlusion masks (one per level), "
                f"got {len(occlusion_map)}"
            )
        return occlusion_map[level]

    def encode(self, image: Tensor) -> list[Tensor]:
        """Encoder maps of an image, finest first: ``num_down_blocks + 1`` of them."""
        out = self.first(image)
        maps = [out]
        for down_block in self.down_blocks:
            out = down_block(out)
            maps.append(out)
        return maps

    def forward(
        self, source_image: Tensor, dense_motion: dict[str, Tensor | list[Tensor]]
    ) -> dict[str, Tensor | list[Tensor]]:
        """Render the source with the dense network's motion.

        Args:
            source_image: (B, C, H, W) in [0, 1].
            dense_motion: the output of :class:`~fomm.tpsmm.nets.DenseMotionNetwork`.

        Returns:
            ``prediction`` (B, C, H, W) in [0, 1]; ``deformed`` (the source warped at full
            resolution); ``warped_encoder_maps`` (coarse to fine, differentiable with
            respect to the flow only); and, passed
            through, ``occlusion_map``, ``contribution_maps`` and ``deformed_source``.
        """
        encoder_maps = self.encode(source_image)
        deformation = dense_motion["deformation"]
        occlusion_map = dense_motion["occlusion_map"]
        warped_encoder_maps = []
        out = None
        warped = None
        for level in range(self.num_down_blocks + 1):
            mask = self._mask(occlusion_map, level)
            feature = encoder_maps[-(level + 1)]
            # The warp loss must move the flow only: its copy detaches features and mask.
            warped_encoder_maps.append(
                self.occlude_input(self.deform_input(feature.detach(), deformation), mask.detach())
            )
            warped = self.occlude_input(self.deform_input(feature, deformation), mask)
            if out is None:
                out = warped
            elif level < self.num_down_blocks:
                out = torch.cat([out, warped], dim=1)
            if level < self.num_down_blocks:
                out = self.resblock[2 * level](out)
                out = self.resblock[2 * level + 1](out)
                out = self.up_blocks[level](out)
        deformed = self.deform_input(source_image, deformation)
        visible = self._mask(occlusion_map, self.num_down_blocks)
        if visible.shape[2:] != out.shape[2:]:
            visible = F.interpolate(
                visible, size=out.shape[2:], mode="bilinear", align_corners=True
            )
        visible = visible.to(out.dtype)
        out = out * (1 - visible) + warped
        out = torch.sigmoid(self.final(out).float())
        prediction = out * (1 - visible.float()) + deformed.float() * visible.float()
        return {
            "contribution_maps": dense_motion["contribution_maps"],
            "deformed_source": dense_motion["deformed_source"],
            "occlusion_map": occlusion_map,
            "deformed": deformed,
            "warped_encoder_maps": warped_encoder_maps,
            "prediction": prediction,
        }

    def encode_occluded(self, driving_image: Tensor, occlusion_map: list[Tensor]) -> list[Tensor]:
        """The driving frame's encoder maps times the masks, finest first, without gradients.

        The warp loss's target: the source's warped maps (``warped_encoder_maps``, coarse to
        fine) should equal these where the source is visible. As in the original, nothing
        here trains (neither the encoder nor the masks).
        """
        with torch.no_grad():
            levels = self.encode(driving_image)
            return [
                self.occlude_input(level, self._mask(occlusion_map, self.num_down_blocks - i))
                for i, level in enumerate(levels)
            ]
