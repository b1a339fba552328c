"""TPSMM's background motion predictor: one affine transform per frame pair (Sec. 3.2)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import resnet18

from fomm.nets.geometry import full_precision


class BGMotionPredictor(nn.Module):
    """A ResNet-18 over the concatenated source and driving frames, giving a 2x3 affine.

    Why: a camera or background that moves is one global motion; the K local splines
    should not have to spend control points on it. Its first convolution takes the six
    stacked channels and its head starts at the identity transform (zero weights, bias
    ``[1, 0, 0, 0, 1, 0]``), so training begins from "the background does not move".
    """

    def __init__(self) -> None:
        super().__init__()
        self.bg_encoder = resnet18(weights=None)
        self.bg_encoder.conv1 = nn.Conv2d(
            6, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False
        )
        self.bg_encoder.fc = nn.Linear(self.bg_encoder.fc.in_features, 6)
        with torch.no_grad():
            self.bg_encoder.fc.weight.zero_()
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, source_image: Tensor, driving_image: Tensor) -> Tensor:
        """The background transform for each pair.

        Args:
            source_image: (B, 3, H, W) in [0, 1].
            driving_image: (B, 3, H, W) in [0, 1].

        Returns:
            (B, 3, 3) float32 affine matrices with last row ``[0, 0, 1]``, mapping driving
            coordinates to source coordinates (homogeneous, in [-1, 1]).
        """
        batch = source_image.shape[0]
        prediction = self.bg_encoder(torch.cat([source_image, driving_image], dim=1))
        with full_precision(source_image.device):
            last_row = prediction.new_tensor([0.0, 0.0, 1.0], dtype=torch.float32)
            return torch.cat(
                [prediction.float().view(batch, 2, 3), last_row.expand(batch, 1, 3)], dim=1
            )
