"""EfficientNetB4 and EfficientNetAutoAttB4 (Bonettini et al., ICPR 2020) on timm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from fakedetect.nets.attention import AttentionGate
from fakedetect.nets.detector import TimmDetector

_EFFICIENTNET_PARTS = ("conv_stem", "bn1", "blocks", "conv_head", "bn2")


class EfficientNetB4(TimmDetector):
    """The paper's EfficientNetB4 detector: 1792-d pooled features, dropout 0.4, one logit.

    The default backbone is timm's ``tf_efficientnet_b4`` (TensorFlow "same"
    padding, batch-norm eps 1e-3), the layout the paper's efficientnet_pytorch
    model has, so published weights map onto it one to one. Any timm
    EfficientNet works (``efficientnet_b0`` for CPU users, ``test_efficientnet``
    in tests).

    Args:
        backbone: a timm EfficientNet name.
        pretrained: start from timm's ImageNet weights.
        dropout: dropout before the classifier (0.4 in the paper, as efficientnet-b4).
        drop_path_rate: stochastic depth over the blocks (0.2, efficientnet-b4's
            drop-connect rate, which the official training used).
        bn_momentum: batch-norm momentum (0.01 = TensorFlow's 0.99 decay, as in
            efficientnet_pytorch); None keeps timm's default.
        backbone_kwargs: any other ``timm.create_model`` arguments.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_b4",
        pretrained: bool = True,
        dropout: float = 0.4,
        drop_path_rate: float = 0.2,
        bn_momentum: float | None = 0.01,
        backbone_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"drop_path_rate": drop_path_rate}
        if bn_momentum is not None:
            kwargs["bn_momentum"] = bn_momentum
        kwargs.update(backbone_kwargs or {})
        super().__init__(backbone, pretrained, dropout, kwargs)


class EfficientNetAutoAttB4(EfficientNetB4):
    """EfficientNetB4 with the paper's attention gate after one stage of blocks.

    After ``blocks[attention_stage]`` a 1x1 convolution and a sigmoid make a
    one-channel map that multiplies the features; the network learns to weigh
    the face regions that betray a manipulation. In B4 the default stage 2 is
    the 56-channel stage ending at the paper's flat block 9, at 1/8 of the input
    size (28x28 at 224 px). The gate's width is read from the backbone, so any
    timm EfficientNet works.

    Args:
        attention_stage: index into the backbone's ``blocks`` after which the
            gate sits.
        **kwargs: the arguments of :class:`EfficientNetB4`.
    """

    def __init__(self, attention_stage: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        missing = [part for part in _EFFICIENTNET_PARTS if not hasattr(self.backbone, part)]
        if missing:
            raise ValueError(
                f"The attention gate needs a timm EfficientNet-like backbone with "
                f"{', '.join(_EFFICIENTNET_PARTS)}; {type(self.backbone).__name__} lacks "
                f"{', '.join(missing)}. Use an EfficientNet backbone or EfficientNetB4."
            )
        stages = len(self.backbone.blocks)
        if not 0 <= attention_stage < stages - 1:
            raise ValueError(
                f"attention_stage={attention_stage} is outside 0..{stages - 2} for this "
                f"backbone ({stages} stages; the gate needs a stage after it)."
            )
        self.attention_stage = attention_stage
        self.gate = AttentionGate(_stage_channels(self.backbone.blocks[attention_stage]))

    def _up_to_gate(self, images: torch.Tensor) -> torch.Tensor:
        backbone = self.backbone
        x = backbone.bn1(backbone.conv_stem(images))
        for stage in backbone.blocks[: self.attention_stage + 1]:
            x = stage(x)
        return x

    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """The attention map ``(B, 1, H/8, W/8)`` in [0, 1] (for the default stage of B4)."""
        return self.gate(self._up_to_gate(images))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, F)`` with the attention map multiplied in."""
        backbone = self.backbone
        x = self._up_to_gate(images)
        x = x * self.gate(x)
        for stage in backbone.blocks[self.attention_stage + 1 :]:
            x = stage(x)
        x = backbone.bn2(backbone.conv_head(x))
        return backbone.forward_head(x, pre_logits=True)


def _stage_channels(stage: nn.Module) -> int:
    """Output channels of a timm EfficientNet stage: those of its last convolution.

    In every timm EfficientNet block (depthwise-separable, inverted residual,
    edge residual, conv-bn-act) the projecting convolution is registered last.
    """
    convs = [module for module in stage.modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ValueError(f"No convolution found in stage {stage!r}")
    return convs[-1].out_channels
