"""Sharpness-aware minimisation (Foret et al., ICLR 2021), as the self-blended recipe trains.

SAM looks for weights whose whole neighbourhood has a low loss: each step first climbs
to ``w + e`` with ``e = rho * g / |g|`` (the worst nearby point to first order), takes
the gradient there, comes back to ``w`` and lets the base optimizer step with that
gradient. That costs two forward-backward passes a step, which it gets from the
closure Lightning hands every optimizer: ``step(closure)`` runs the closure at ``w``,
climbs, runs it again at ``w + e``, and steps. So any LightningModule with automatic
optimisation trains with it unchanged (its logged training loss and metrics then
average the two passes). Precision ``16-mixed`` calls ``step`` without a closure and
is refused with a message; ``32`` and ``bf16-mixed`` work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class SAM(torch.optim.Optimizer):
    """SAM around a base optimizer; checkpoints hold the base optimizer's state.

    Args:
        params: the parameters (or parameter groups).
        base_optimizer: the optimizer class (or partial) that takes the step, e.g.
            ``torch.optim.SGD``.
        rho: the radius of the neighbourhood (0.05 in SAM and the self-blended code).
        **kwargs: the base optimizer's arguments (``lr``, ``momentum``, ...).
    """

    def __init__(
        self,
        params: Iterable[Any],
        base_optimizer: Callable[..., torch.optim.Optimizer],
        rho: float = 0.05,
        **kwargs: Any,
    ) -> None:
        if rho < 0:
            raise ValueError(f"SAM's rho={rho} must be >= 0")
        super().__init__(params, {"rho": rho, **kwargs})
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def _climb(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Move every parameter to ``w + e``; return the moves to undo."""
        grads = [
            p.grad for group in self.param_groups for p in group["params"] if p.grad is not None
        ]
        if not grads:
            return []
        device = grads[0].device
        norm = torch.norm(torch.stack([g.norm(2).to(device) for g in grads]), 2)
        moves = []
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for param in group["params"]:
                if param.grad is None:
                    continue
                move = param.grad * scale.to(param)
                param.add_(move)
                moves.append((param, move))
        return moves

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Two passes of ``closure`` (at ``w`` and ``w + e``), then the base optimizer's step.

        Returns:
            The loss at ``w`` (what the first pass returned).

        Raises:
            ValueError: no closure (SAM cannot take a step from one gradient).
        """
        if closure is None:
            raise ValueError(
                "SAM needs the closure that recomputes the loss (two passes a step); it "
                "cannot train under trainer.precision=16-mixed, use 32 or bf16-mixed."
            )
        with torch.enable_grad():
            loss = closure()
        if loss is None:  # the training step skipped this batch
            return None
        moves = self._climb()
        with torch.enable_grad():
            closure()
        with torch.no_grad():
            for param, move in moves:
                param.sub_(move)
        self.base_optimizer.step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state (SAM keeps none between steps)."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the base optimizer's state."""
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
