"""TPSMM's keypoint detector: a ResNet-18 regressing K x 5 control points."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models import ResNet18_Weights, resnet18

from fomm.nets.geometry import full_precision
from fomm.tpsmm.nets.tps import POINTS_PER_TPS


def imagenet_resnet18(pretrained: bool) -> nn.Module:
    """The torchvision ResNet-18, with ImageNet weights when asked (downloaded once, then cached).

    Raises:
        RuntimeError: the weights are not cached and cannot be downloaded (offline);
            the message says where to put them.
    """
    if not pretrained:
        return resnet18(weights=None)
    try:
        return resnet18(weights=ResNet18_Weights.IMAGENET1K_V1)
    except (OSError, RuntimeError) as error:
        raise RuntimeError(
            "cannot load the ImageNet ResNet-18 weights for kp_detector_params.pretrained=true "
            f"({error}); put resnet18-f37072fd.pth under $TORCH_HOME/hub/checkpoints or set "
            "pretrained to false (the official code trains from scratch)"
        ) from error


class KPDetector(nn.Module):
    """Regress the 5K control points of K thin-plate splines from an image (Sec. 3.1).

    The ResNet-18's classifier is replaced by a linear layer with 10K outputs; a sigmoid
    rescaled to (-1, 1) keeps the points inside the image (the original's choice, equal
    to ``tanh(x / 2)``).

    Args:
        num_tps: number of TPS transforms K.
        pretrained: start from ImageNet weights (the official code does not).
        **unused: other ``common_params`` (``num_channels``, ``bg``, ``multi_mask``): the
            original takes and ignores them too.
    """

    def __init__(self, num_tps: int, pretrained: bool = False, **unused: object) -> None:
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = imagenet_resnet18(pretrained)
        self.fg_encoder.fc = nn.Linear(self.fg_encoder.fc.in_features, num_tps * POINTS_PER_TPS * 2)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """Detect control points.

        Args:
            image: (B, 3, H, W) in [0, 1].

        Returns:
            ``fg_kp``: (B, 5K, 2) float32 points (x, y) in (-1, 1).
        """
        raw = self.fg_encoder(image)
        with full_precision(image.device):
            points = torch.sigmoid(raw.float()) * 2 - 1
        return {"fg_kp": points.view(image.shape[0], self.num_tps * POINTS_PER_TPS, 2)}
