"""A detector, or an ensemble of them, as one ONNX-ready module: ``faces`` -> ``logits``.

The ensemble graph averages the members' logits, as :class:`fakedetect.nets.LogitEnsemble`
does, and also returns each member's (``member_logits``), which ``fakedetect.predict``
writes per model. The attention map of the first attention model comes along for free:
it is the gate's output inside the forward pass, caught on its way (no second pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from fakedetect.nets import LogitEnsemble


def attention_gate(net: nn.Module) -> nn.Module | None:
    """The attention gate of EfficientNetAutoAttB4 (or its siamese-tuned form), else None."""
    return getattr(getattr(net, "feature_extractor", net), "gate", None)


def ensemble_members(net: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    """The detectors of a network, a :class:`LogitEnsemble` or a list (one for a plain net)."""
    if isinstance(net, LogitEnsemble):
        return list(net.members)
    if isinstance(net, nn.Module):
        return [net]
    return list(net)


class DetectorGraph(nn.Module):
    """``faces`` (N, 3, S, S), ImageNet-normalised -> ``logits`` (N,) and the extras.

    Outputs, in order: ``logits`` (the members' mean for an ensemble); ``member_logits``
    (N, M) for an ensemble; ``attention`` (N, 1, S/8, S/8) in [0, 1] where a member has an
    attention gate (the first such member).

    Args:
        members: one detector or several (an ensemble averaging their logits).
    """

    def __init__(self, members: nn.Module | Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(ensemble_members(members))
        if not len(self.members):
            raise ValueError("DetectorGraph needs at least one detector")
        self.attention_member = next(
            (i for i, net in enumerate(self.members) if attention_gate(net) is not None), None
        )
        self.output_names = ["logits"]
        if len(self.members) > 1:
            self.output_names.append("member_logits")
        if self.attention_member is not None:
            self.output_names.append("attention")

    def forward(self, faces: Tensor) -> tuple[Tensor, ...]:  # noqa: D102
        caught: list[Tensor] = []
        handle = None
        if self.attention_member is not None:
            gate = attention_gate(self.members[self.attention_member])
            handle = gate.register_forward_hook(lambda _m, _i, output: caught.append(output))
        try:
            logits = [net(faces) for net in self.members]
        finally:
            if handle is not None:
                handle.remove()
        outputs = [torch.stack(logits).mean(dim=0)]
        if len(self.members) > 1:
            outputs.append(torch.stack(logits, dim=1))
        if caught:
            outputs.append(caught[0])
        return tuple(outputs)
