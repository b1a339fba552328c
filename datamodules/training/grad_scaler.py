"""One gradient-scaler update per training step, however many optimizers the step steps.

Under ``16-mixed`` Lightning's ``MixedPrecision.optimizer_step`` unscales an optimizer's
gradients (unless the optimizer does it itself), steps it through the scaler (which skips
the step when a gradient is not finite) and then calls ``scaler.update()``. FOMM's manual
step steps up to three optimizers (generator, keypoint detector, discriminator), so the
scale was updated three times a step: the growth counter ran three times too fast, and
after a backoff the next optimizer's gradients, scaled in backward by the old scale, were
unscaled by the new one. PyTorch's rule for several optimizers is to step each and update
once, after the last; :func:`one_scaler_update` makes Lightning's path follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_ABSENT = object()


@contextmanager
def one_scaler_update(trainer: Any) -> Iterator[None]:
    """Hold back the updates of the trainer's gradient scaler; update it once on leaving.

    The scaler is updated once if any optimizer stepped through it inside the block, and
    not at all when the block raises (as a failed step would not have updated it). Without
    a scaler (32, bf16) it does nothing.

    Args:
        trainer: the Lightning Trainer (None outside one).
    """
    plugin = getattr(trainer, "precision_plugin", None) if trainer is not None else None
    scaler = getattr(plugin, "scaler", None)
    if scaler is None:
        yield
        return
    held_back = 0

    def hold_back(new_scale: Any = None) -> None:
        nonlocal held_back
        held_back += 1

    previous = scaler.__dict__.get("update", _ABSENT)
    scaler.update = hold_back  # an instance attribute shadows the method
    try:
        yield
    finally:
        if previous is _ABSENT:
            del scaler.update
        else:
            scaler.update = previous
    if held_back:
        scaler.update()


def step_uncounted(trainer: Any, optimizer: Any) -> None:
    """Step an extra optimizer of a manual step without advancing ``trainer.global_step``.

    Why: Lightning counts every ``LightningOptimizer.step`` as a step; a training step
    that updates several optimizers (FOMM's detector and discriminator, TPSMM's background
    predictor) steps the first normally and the others here, through the strategy and
    its precision plugin (so gradient scaling and the ``on_before_optimizer_step`` hook
    apply to them too), and ``global_step`` keeps counting batches.

    Args:
        trainer: the Lightning Trainer.
        optimizer: a ``LightningOptimizer`` (as ``self.optimizers()`` returns) or a plain one.
    """
    plain = getattr(optimizer, "optimizer", optimizer)
    trainer.strategy.optimizer_step(plain, closure=lambda: None)
