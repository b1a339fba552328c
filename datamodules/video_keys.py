"""Stable integer keys of video ids, for metric states gathered across processes."""

from __future__ import annotations

import hashlib

import torch


def video_key(video: str) -> int:
    """A stable signed 64-bit key for a video id (the same in every process and run).

    Why: metric states must be tensors to be gathered across processes, so video
    ids travel as keys; Python's ``hash`` differs between processes.
    """
    digest = hashlib.blake2b(video.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def first_occurrences(keys: torch.Tensor) -> torch.Tensor:
    """Positions of the first occurrence of each distinct key (or key row), sorted by key.

    Why: under DDP a distributed sampler pads the processes' shares by repeating items,
    so metrics gathered across processes hold some items twice; keeping the first of
    each key counts every item once.

    Args:
        keys: ``(N,)`` keys or ``(N, D)`` key rows.
    """
    if len(keys) == 0:
        return torch.zeros(0, dtype=torch.long, device=keys.device)
    _, inverse = torch.unique(keys, dim=0, return_inverse=True)
    positions = torch.arange(len(inverse), device=inverse.device)
    first = torch.full((int(inverse.max()) + 1,), len(inverse), device=inverse.device)
    return first.scatter_reduce(0, inverse, positions, reduce="amin")
