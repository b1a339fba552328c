"""A linear solver made of elementwise ops, for the thin-plate splines in an ONNX graph.

ONNX has no linear solve, and the exporter has no translation for ``torch.linalg.solve``,
which TPSMM's spline fit calls once per frame for K small (n + 3)-square systems. Inside
:class:`EliminationSolve`, that call runs :func:`solve_by_elimination` instead: Gauss-Jordan
elimination with partial pivoting (LAPACK's ``gesv`` pivots the same way), unrolled over
the fixed system size, so tracing turns it into plain ONNX operators. The networks' code
stays as it is; only the export (and the test comparing both solvers) enters the mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode


def solve_by_elimination(system: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``system @ x = rhs`` for batches of small square systems.

    Each step picks the row with the largest entry in the current column among those not
    yet used as pivots, swaps it into place by selection (exact, no arithmetic), scales
    it to a unit pivot and clears the column in every other row.

    Args:
        system: (..., n, n), n fixed (it is unrolled).
        rhs: (..., n, m).

    Returns:
        (..., n, m).
    """
    size = system.shape[-1]
    augmented = torch.cat([system, rhs.to(system.dtype)], dim=-1)
    rows = torch.arange(size, device=system.device)
    for step in range(size):
        used = rows < step
        column = augmented[..., :, step].abs().masked_fill(used, -1.0)
        is_pivot = (rows == column.argmax(dim=-1, keepdim=True)).unsqueeze(-1)
        is_step = (rows == step).unsqueeze(-1)
        current = augmented[..., step : step + 1, :]
        pivot = (is_pivot.to(augmented.dtype) * augmented).sum(dim=-2, keepdim=True)
        augmented = torch.where(is_step, pivot, torch.where(is_pivot, current, augmented))
        unit = augmented[..., step : step + 1, :] / augmented[..., step : step + 1, step : step + 1]
        augmented = augmented - augmented[..., :, step : step + 1] * unit
        augmented = torch.where(is_step, unit, augmented)
    return augmented[..., :, size:]


class EliminationSolve(TorchFunctionMode):
    """Within this mode, ``torch.linalg.solve(A, B)`` runs :func:`solve_by_elimination`.

    Why a mode and not a change to the spline code: the published-model code path stays
    LAPACK's in torch, and export alone traces the ONNX-friendly version.
    """

    def __torch_function__(
        self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.linalg.solve and len(args) == 2 and not kwargs:
            system, rhs = args
            if rhs.dim() == system.dim():  # a matrix right-hand side, as the splines have
                return solve_by_elimination(system, rhs)
        return func(*args, **kwargs)
