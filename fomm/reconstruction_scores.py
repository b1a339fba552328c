"""Reconstruction errors of an evaluation epoch, each video counted once across processes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from datamodules.video_keys import first_occurrences, video_key


class ReconstructionScores(Metric):
    """Per-video mean errors of an epoch; ``compute()`` averages them over all frames.

    Why a metric and not ``self.log(..., sync_dist=True)`` per video: under DDP the
    distributed sampler pads the processes' shares to equal length by repeating videos,
    and an average of per-process averages then counts those videos twice (three test
    videos on two processes scored one of them twice). Here every process records its
    videos by key, torchmetrics gathers them, and a repeated video is counted once.

    Args:
        names: the errors recorded for each video (``l1`` and the baselines).
    """

    full_state_update = False

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(names)
        self.add_state("video_keys", default=[], dist_reduce_fx="cat")
        self.add_state("frame_counts", default=[], dist_reduce_fx="cat")
        self.add_state("errors", default=[], dist_reduce_fx="cat")

    def update(self, video: str, frame_count: int, errors: dict[str, Tensor]) -> None:
        """Record one video: its name, frame count and the mean of each error over its frames."""
        device = self.device
        self.video_keys.append(torch.tensor([video_key(video)], dtype=torch.long, device=device))
        self.frame_counts.append(torch.tensor([frame_count], dtype=torch.float32, device=device))
        row = torch.stack([errors[name].detach().float().reshape(()) for name in self.names])
        self.errors.append(row.to(device).view(1, -1))

    def compute(self) -> dict[str, Tensor]:
        """The frame-weighted mean of each error over the distinct videos (NaN for none)."""
        if not isinstance(self.video_keys, Tensor) and not self.video_keys:
            return {name: torch.tensor(float("nan")) for name in self.names}
        keys = dim_zero_cat(self.video_keys)
        counts = dim_zero_cat(self.frame_counts)
        errors = dim_zero_cat(self.errors).view(len(keys), len(self.names))
        first = first_occurrences(keys)
        weights = counts[first] / counts[first].sum()
        means = (errors[first] * weights.unsqueeze(1)).sum(dim=0)
        return {name: means[i] for i, name in enumerate(self.names)}
