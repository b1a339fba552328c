"""The paper's Xception baseline on timm's ``legacy_xception``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakedetect.nets.detector import TimmDetector


class Xception(TimmDetector):
    """Xception (Chollet 2017) as the paper's baseline: 2048-d features, no dropout, one logit.

    timm's ``legacy_xception`` is the Cadene/pretrainedmodels port the paper
    used, with the same layer names, so the published weights map onto it
    directly. Features are the ReLU of the last block, average pooled.

    Args:
        backbone: a timm model name (``legacy_xception`` reproduces the paper).
        pretrained: start from timm's ImageNet weights.
        dropout: dropout before the classifier (none in the paper).
        backbone_kwargs: any other ``timm.create_model`` arguments.
    """

    def __init__(
        self,
        backbone: str = "legacy_xception",
        pretrained: bool = True,
        dropout: float = 0.0,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, pretrained, dropout, backbone_kwargs)
