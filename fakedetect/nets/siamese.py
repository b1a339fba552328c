"""Siamese-tuned detectors: a triplet-trained feature extractor and a small head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fakedetect.nets.efficientnet import EfficientNetAutoAttB4, EfficientNetB4


class SiameseTuned(nn.Module):
    """A feature extractor plus a ``BatchNorm1d(F) + Linear(F, 1)`` head.

    The paper trains the extractor's pooled features with a triplet loss, then
    trains only this head. While ``frozen`` (the default, and the head phase),
    features are computed without gradients and the extractor stays in eval
    mode, so its batch-norm statistics and stochastic depth do not change the
    features the head learns from. (The official code ran the frozen extractor
    in train mode; eval mode gives the head the same features it sees at test
    time.) The extractor keeps its own binary classifier, unused here, so a
    binary checkpoint loads into it unchanged.

    Args:
        feature_extractor: a detector with ``features(x)`` and ``num_features``.
        frozen: start with the extractor frozen.
    """

    def __init__(self, feature_extractor: nn.Module, frozen: bool = True) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.num_features: int = feature_extractor.num_features
        self.classifier = nn.Sequential(
            nn.BatchNorm1d(self.num_features), nn.Linear(self.num_features, 1)
        )
        self.frozen = frozen
        self.train(self.training)

    def freeze_features(self, frozen: bool = True) -> None:
        """Freeze (head phase) or release (triplet phase) the feature extractor."""
        self.frozen = frozen
        self.train(self.training)

    def train(self, mode: bool = True) -> SiameseTuned:
        """Set train/eval mode, keeping a frozen extractor in eval mode."""
        super().train(mode)
        if self.frozen:
            self.feature_extractor.eval()
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, F)`` of the extractor (with gradients, for the triplet loss)."""
        return self.feature_extractor.features(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """One logit per face, shape ``(B,)``."""
        if self.frozen:
            with torch.no_grad():
                features = self.features(images)
        else:
            features = self.features(images)
        return self.classifier(features).squeeze(-1)


class EfficientNetB4ST(SiameseTuned):
    """EfficientNetB4 features with the siamese-tuned head.

    Args:
        frozen: start with the extractor frozen.
        **kwargs: the arguments of :class:`EfficientNetB4`.
    """

    def __init__(self, frozen: bool = True, **kwargs: Any) -> None:
        super().__init__(EfficientNetB4(**kwargs), frozen=frozen)


class EfficientNetAutoAttB4ST(SiameseTuned):
    """EfficientNetAutoAttB4 features with the siamese-tuned head.

    Args:
        frozen: start with the extractor frozen.
        **kwargs: the arguments of :class:`EfficientNetAutoAttB4`.
    """

    def __init__(self, frozen: bool = True, **kwargs: Any) -> None:
        super().__init__(EfficientNetAutoAttB4(**kwargs), frozen=frozen)

    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """The extractor's attention map ``(B, 1, H/8, W/8)``."""
        return self.feature_extractor.attention(images)
