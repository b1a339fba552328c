"""Timing helpers shared by the benchmark scripts (imported; not a benchmark itself).

Why a module: GPU work is asynchronous, so every timer must wait for the device at its
start and end; one place gets that right for every script.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait until ``device`` has finished its queued work (a no-op on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], None], reps: int, warmup: int, device: torch.device) -> float:
    """Best wall time of ``reps`` calls after ``warmup`` untimed ones.

    Why the best: on a shared machine the least disturbed run is the closest to the
    cost of the work itself.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def autocast(device_type: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` on ``device_type``, or nothing for full precision."""
    return torch.autocast(device_type, dtype=dtype) if dtype else contextlib.nullcontext()


def inference_fn(
    model: torch.nn.Module, inputs: torch.Tensor, dtype: torch.dtype | None
) -> Callable[[], None]:
    """One forward pass of ``model`` on ``inputs`` without autograd, as a timed callable."""

    def run() -> None:
        with torch.inference_mode(), autocast(inputs.device.type, dtype):
            model(inputs)

    return run
