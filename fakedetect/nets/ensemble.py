"""An ensemble of detectors that averages their logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LogitEnsemble(nn.Module):
    """Average the face logits of several detectors (the paper's fusion).

    Averaging logits rather than probabilities keeps a confident member from
    being squashed by the sigmoid; a video's score is then the sigmoid of the
    mean over its frames of this average.

    Args:
        members: detectors whose ``forward`` gives one logit per face.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("An ensemble needs at least one member detector.")
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The mean logit of the members, shape ``(B,)``."""
        return torch.stack([member(images) for member in self.members]).mean(dim=0)
