"""A face-crop detector on any timm backbone: pooled features, dropout, one logit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fakedetect.nets.backbone import create_backbone


class TimmDetector(nn.Module):
    """``backbone -> pooled features -> dropout -> Linear(F, 1)``: the paper's binary detector.

    Every detector of the paper has this shape; only the backbone (and for the
    attention variant, the feature path) changes. ``features`` is what the
    triplet loss, the siamese head and feature visualisations use; ``forward``
    gives one logit per face (> 0 means fake).

    Args:
        backbone: a timm model name.
        pretrained: start from timm's ImageNet weights (a failed download warns
            and starts from random weights).
        dropout: dropout on the pooled features before the classifier.
        backbone_kwargs: extra ``timm.create_model`` arguments.
    """

    def __init__(
        self,
        backbone: str,
        pretrained: bool = True,
        dropout: float = 0.0,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = create_backbone(backbone, pretrained, **dict(backbone_kwargs or {}))
        self.num_features: int = self.backbone.num_features
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.num_features, 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, F)`` of normalised face crops ``(B, 3, H, W)``."""
        return self.backbone(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One logit per face, shape ``(B,)``; sigmoid of it is the probability of fake."""
        return self.classifier(self.dropout(self.features(images))).squeeze(-1)
