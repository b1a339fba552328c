"""Building blocks of the FOMM networks: conv blocks, the hourglass, anti-aliased downsampling.

Attribute names (``conv``, ``norm``, ``down_blocks``, ``up_blocks``, ``weight`` ...) follow the
original implementation exactly, so the published checkpoints load by name. The original
uses ``SynchronizedBatchNorm2d``, whose state-dict entries are those of ``nn.BatchNorm2d``;
plain ``nn.BatchNorm2d`` is used here so ``sync_batchnorm`` (trainer=ddp) converts it under DDP.
The Thin-Plate-Spline Motion Model (``fomm.tpsmm``) uses the same blocks with affine
instance norm instead: every block takes the normalisation class as ``norm``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fomm.nets.geometry import full_precision


class ResBlock2d(nn.Module):
    """Pre-activation residual block that keeps the resolution (the generator's bottleneck)."""

    def __init__(
        self,
        in_features: int,
        kernel_size: int | tuple,
        padding: int | tuple,
        norm: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = norm(in_features, affine=True)
        self.norm2 = norm(in_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class _ConvNormBlock(nn.Module):
    """A conv followed by batch norm; subclasses add the resampling and the ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | tuple = 3,
        padding: int | tuple = 1,
        groups: int = 1,
        norm: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups
        )
        self.norm = norm(out_features, affine=True)


class UpBlock2d(_ConvNormBlock):
    """Nearest-neighbour 2x upsampling, conv, batch norm, ReLU."""

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        out = F.interpolate(x, scale_factor=2)
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(_ConvNormBlock):
    """Conv, batch norm, ReLU, 2x2 average pooling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock2d(_ConvNormBlock):
    """Conv, batch norm, ReLU at constant resolution."""

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return F.relu(self.norm(self.conv(x)))


def _features(block_expansion: int, level: int, max_features: int) -> int:
    return min(max_features, block_expansion * (2**level))


class Encoder(nn.Module):
    """The hourglass's contracting half; returns the input and every level's output."""

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks: int = 3,
        max_features: int = 256,
        norm: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else _features(block_expansion, i, max_features),
                _features(block_expansion, i + 1, max_features),
                kernel_size=3,
                padding=1,
                norm=norm,
            )
            for i in range(num_blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:  # noqa: D102
        outs = [x]
        for down_block in self.down_blocks:
            outs.append(down_block(outs[-1]))
        return outs


class Decoder(nn.Module):
    """The hourglass's expanding half, concatenating the encoder's skip connections.

    ``level_channels[i]`` is the channel count of the i-th level's output (coarse to fine);
    the last, ``out_filters``, is ``block_expansion + in_features``.
    """

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks: int = 3,
        max_features: int = 256,
        norm: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        up_blocks = []
        in_channels = []
        for i in reversed(range(num_blocks)):
            multiplier = 1 if i == num_blocks - 1 else 2
            in_filters = multiplier * _features(block_expansion, i + 1, max_features)
            out_filters = _features(block_expansion, i, max_features)
            in_channels.append(in_filters)
            up_blocks.append(
                UpBlock2d(in_filters, out_filters, kernel_size=3, padding=1, norm=norm)
            )
        self.up_blocks = nn.ModuleList(up_blocks)
        self.out_filters = block_expansion + in_features
        # Each level's output is the next up block's input; the last is out_filters wide.
        self.level_channels = [*in_channels[1:], self.out_filters]

    def forward_levels(self, skips: list[Tensor]) -> list[Tensor]:
        """Every level's output (up block, then skip concatenated), coarse to fine."""
        skips = list(skips)
        out = skips.pop()
        levels = []
        for up_block in self.up_blocks:
            out = torch.cat([up_block(out), skips.pop()], dim=1)
            levels.append(out)
        return levels

    def forward(self, skips: list[Tensor]) -> Tensor:  # noqa: D102
        return self.forward_levels(skips)[-1]


class Hourglass(nn.Module):
    """U-Net: ``out_filters`` = ``block_expansion + in_features`` channels at input resolution."""

    def __init__(
        self,
        block_expansion: int,
        in_features: int,
        num_blocks: int = 3,
        max_features: int = 256,
        norm: type[nn.Module] = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, norm)
        self.out_filters = self.decoder.out_filters
        self.level_channels = self.decoder.level_channels

    def forward_levels(self, x: Tensor) -> list[Tensor]:
        """The decoder's output at every level, coarse to fine (the last is :meth:`forward`'s)."""
        return self.decoder.forward_levels(self.encoder(x))

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.decoder(self.encoder(x))


class AntiAliasInterpolation2d(nn.Module):
    """Band-limited downsampling: Gaussian blur, then keep every k-th pixel.

    The blur's sigma is ``(1 / scale - 1) / 2`` and its kernel ``2 * round(4 * sigma) + 1``
    wide, as in the original; the kernel is a buffer named ``weight`` (it is part of the
    published state dicts), and the blur is always the stored kernel, whatever it holds.
    At scale 1 the input passes through untouched.

    Args:
        channels: image channels (the blur is depthwise).
        scale: output size / input size, e.g. 0.25.
    """

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        sigma = (1 / scale - 1) / 2
        kernel_size = 2 * round(sigma * 4) + 1
        self.ka = kernel_size // 2
        self.kb = self.ka - 1 if kernel_size % 2 == 0 else self.ka
        coords = torch.arange(kernel_size, dtype=torch.float32)
        mean = (kernel_size - 1) / 2
        if sigma > 0:
            gauss_1d = torch.exp(-((coords - mean) ** 2) / (2 * sigma**2))
        else:
            gauss_1d = torch.ones_like(coords)
        kernel = gauss_1d.view(-1, 1) * gauss_1d.view(1, -1)
        kernel = kernel / kernel.sum()
        self.register_buffer(
            "weight", kernel.view(1, 1, kernel_size, kernel_size).repeat(channels, 1, 1, 1)
        )
        self.groups = channels
        self.scale = scale
        inverse = 1 / scale
        # Nearest-neighbour resizing by 1/k samples every k-th pixel: a strided slice.
        self._stride = round(inverse) if abs(inverse - round(inverse)) < 1e-6 else None
        # Whether the stored kernel is an outer product of its marginals; decided at the
        # first forward and again after every load_state_dict (a checkpoint may store any
        # kernel, e.g. a Gaussian rounded to fp16, which is no longer separable).
        self._separable: bool | None = None
        self.register_load_state_dict_post_hook(_forget_separability)

    def _kernel_is_separable(self) -> bool:
        kernel = self.weight.detach().float()
        marginals = kernel.sum(dim=3, keepdim=True) * kernel.sum(dim=2, keepdim=True)
        return bool(torch.allclose(marginals, kernel, rtol=0, atol=1e-6))

    def forward(self, x: Tensor) -> Tensor:
        """Blur and subsample; runs in float32 whatever autocast does, returns float32.

        A separable kernel (the Gaussian built here) runs as a vertical then a horizontal
        1-D pass (equal to the 2-D kernel up to float rounding, and 15 times fewer
        operations at scale 0.125); any other stored kernel as the 2-D convolution the
        original runs. Under autocast a bf16 depthwise convolution with a 29-wide kernel
        is pathologically slow on CPUs, hence float32.
        """
        if self.scale == 1.0:
            return x
        if self._separable is None:
            self._separable = self._kernel_is_separable()
        with full_precision(x.device):
            kernel = self.weight.float()
            out = F.pad(x.float().contiguous(), (self.ka, self.kb, self.ka, self.kb))
            if self._separable:
                vertical = kernel.sum(dim=3, keepdim=True)  # (C, 1, k, 1): the 1-D kernel
                horizontal = kernel.sum(dim=2, keepdim=True)  # (C, 1, 1, k)
                out = F.conv2d(out, weight=vertical, groups=self.groups)
                out = F.conv2d(out, weight=horizontal, groups=self.groups)
            else:
                out = F.conv2d(out, weight=kernel, groups=self.groups)
        if self._stride is None:
            return F.interpolate(out, scale_factor=(self.scale, self.scale))
        height = int(x.shape[2] * self.scale)
        width = int(x.shape[3] * self.scale)
        return out[:, :, :: self._stride, :: self._stride][:, :, :height, :width]


def _forget_separability(module: AntiAliasInterpolation2d, _incompatible_keys: object) -> None:
    """After a state-dict load the kernel may have changed: check it again at the next use."""
    module._separable = None
