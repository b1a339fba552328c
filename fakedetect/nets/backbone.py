"""Build timm backbones, with ImageNet weights where they can be fetched."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import timm
from torch import nn

log = logging.getLogger(__name__)


def create_backbone(name: str, pretrained: bool, **kwargs: Any) -> nn.Module:
    """Create a timm model without its classifier, so that ``model(x)`` gives pooled features.

    Why: the detectors only need the pooled feature vector; the binary head is
    theirs. ImageNet weights are the paper's starting point, but a machine
    without internet must still be able to build (and test) the network, so a
    failed download falls back to random weights with a loud warning instead of
    stopping the run.

    Args:
        name: any ``timm.list_models()`` name, e.g. ``tf_efficientnet_b4``.
        pretrained: load the ImageNet weights timm knows for ``name``.
        **kwargs: passed to ``timm.create_model`` (``drop_path_rate``, ``bn_momentum``...).

    Returns:
        The backbone, with ``num_features`` set to its pooled feature size.
    """
    if not timm.is_model(name):
        raise ValueError(
            f"backbone={name!r} is not a timm model; pick one from timm.list_models(), "
            "e.g. tf_efficientnet_b4, efficientnet_b0 or legacy_xception."
        )
    if pretrained:
        try:
            return timm.create_model(name, pretrained=True, num_classes=0, **kwargs)
        except OSError as error:
            warnings.warn(
                f"Could not fetch the ImageNet weights of {name} ({type(error).__name__}: "
                f"{str(error)[:200]}); the network starts from RANDOM weights. Pre-download "
                "them into the Hugging Face cache, or set model.net.pretrained=false to "
                "start from scratch on purpose.",
                stacklevel=2,
            )
    return timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
