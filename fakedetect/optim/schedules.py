"""Learning-rate schedules of the detector recipes."""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import LambdaLR


def linear_decay_after(
    optimizer: torch.optim.Optimizer, total_epochs: int, decay_start: int | None = None
) -> LambdaLR:
    """The full learning rate until ``decay_start``, then a linear decay to 0 at ``total_epochs``.

    The self-blended paper's schedule (``LinearDecayLR``: 100 epochs, decay from epoch
    75). Stepped once per epoch: the factor after ``e`` steps is 1 for
    ``e <= decay_start`` and ``(total_epochs - e) / (total_epochs - decay_start)`` after.

    Args:
        optimizer: the optimizer whose learning rate is scheduled.
        total_epochs: the epoch at which the rate reaches 0 (the run's ``max_epochs``).
        decay_start: the last epoch at the full rate; None is three quarters of
            ``total_epochs``, as the official code computes it.
    """
    if decay_start is None:
        decay_start = int(total_epochs * 3 / 4)
    if not 0 <= decay_start < total_epochs:
        raise ValueError(
            f"decay_start={decay_start} must be in [0, total_epochs={total_epochs}); "
            "give the schedule the run's number of epochs (trainer.max_epochs)"
        )

    def factor(epoch: int) -> float:
        if epoch <= decay_start:
            return 1.0
        return max(0.0, (total_epochs - epoch) / (total_epochs - decay_start))

    return LambdaLR(optimizer, factor)
