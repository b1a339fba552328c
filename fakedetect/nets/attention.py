"""The attention gate of EfficientNetAutoAttB4."""

from __future__ import annotations

import torch
from torch import nn


class AttentionGate(nn.Module):
    """A 1x1 convolution to one channel and a sigmoid: a spatial map in [0, 1].

    Why so small: the paper lets the network learn where to look with the
    lightest possible module, so the map stays a readable by-product (it is
    multiplied into the features, and shown to analysts as a heat map).

    Args:
        in_channels: channels of the feature map the gate reads.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return the attention map, shape ``(B, 1, H, W)``."""
        return torch.sigmoid(self.conv(features))
