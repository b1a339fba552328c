"""Batch samplers for face crops: real/fake balanced batches and triplets.

Both subclass PyTorch's ``BatchSampler`` and take the ``sampler`` whose indices
they draw from, so under DDP Lightning can hand them a ``DistributedSampler``:
each process then builds its batches from its own shard of the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import BatchSampler, Sampler

Triplet = tuple[int, int, int]


@dataclass(frozen=True)
class TrainSampling:
    """What a LightningModule wants its training batches to be, asked at every epoch.

    Attributes:
        mode: ``binary`` (single faces, half real, half fake) or ``triplet``
            (anchor, positive, negative).
        batches_per_epoch: the epoch length, i.e. the validation cadence in
            steps; None is one pass over the training faces.
    """

    mode: Literal["binary", "triplet"] = "binary"
    batches_per_epoch: int | None = None


class _ClassStreams:
    """Endless shuffled streams of the real and the fake indices of a pool."""

    def __init__(self, pool: Sequence[int], labels: np.ndarray, generator: torch.Generator):
        self.generator = generator
        pool = np.asarray(pool, dtype=np.int64)
        self.indices = {label: pool[labels[pool] == label] for label in (0, 1)}
        for label, name in ((0, "real"), (1, "fake")):
            if not len(self.indices[label]):
                raise ValueError(
                    f"No {name} faces to sample from ({len(pool)} faces in this process's "
                    "share of the split): balanced and triplet batches need both classes."
                )
        self._order = {label: np.zeros(0, dtype=np.int64) for label in (0, 1)}
        self._next = dict.fromkeys((0, 1), 0)

    def take(self, label: int, count: int, exclude: int | None = None) -> list[int]:
        """``count`` indices of ``label``, without repeats until the class is used up."""
        taken: list[int] = []
        while len(taken) < count:
            if self._next[label] >= len(self._order[label]):
                items = self.indices[label]
                self._order[label] = items[torch.randperm(len(items), generator=self.generator)]
                self._next[label] = 0
            index = int(self._order[label][self._next[label]])
            self._next[label] += 1
            if index != exclude or len(self.indices[label]) == 1:
                taken.append(index)
        return taken


def _generator() -> torch.Generator:
    """A generator seeded from torch's global RNG, so ``seed_everything`` makes runs repeat."""
    generator = torch.Generator()
    generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
    return generator


class _LabelledBatchSampler(BatchSampler):
    """A ``BatchSampler`` over the labelled indices its ``sampler`` gives, for a set epoch length.

    Args:
        sampler: where the indices come from (a ``RandomSampler``, or the
            ``DistributedSampler`` Lightning injects under DDP).
        batch_size: items per batch.
        drop_last: kept for the ``BatchSampler`` interface; batches are always full.
        labels: the 0/1 label of every dataset index.
        num_batches: batches per epoch; None is one pass over the sampler's faces.
    """

    faces_per_item = 1

    def __init__(
        self,
        sampler: Sampler[int],
        batch_size: int,
        drop_last: bool = True,
        *,
        labels: Sequence[int],
        num_batches: int | None = None,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.labels = np.asarray(labels)
        self.num_batches = num_batches

    def __len__(self) -> int:
        if self.num_batches is not None:
            return self.num_batches
        return max(1, len(self.sampler) // (self.faces_per_item * self.batch_size))


class BalancedBatchSampler(_LabelledBatchSampler):
    """Batches of ``batch_size`` faces (even), exactly half real and half fake, in random order.

    See :class:`_LabelledBatchSampler` for the arguments.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, *args: Any, **kwargs: Any) -> None:
        if batch_size < 2 or batch_size % 2:
            raise ValueError(f"batch_size={batch_size}: a balanced batch needs an even size >= 2.")
        super().__init__(sampler, batch_size, *args, **kwargs)

    def __iter__(self) -> Iterator[list[int]]:
        generator = _generator()
        streams = _ClassStreams(list(self.sampler), self.labels, generator)
        half = self.batch_size // 2
        for _ in range(len(self)):
            batch = streams.take(0, half) + streams.take(1, half)
            order = torch.randperm(len(batch), generator=generator).tolist()
            yield [batch[i] for i in order]


class TripletBatchSampler(_LabelledBatchSampler):
    """Batches of ``batch_size`` (anchor, positive, negative) index triplets.

    Triplets alternate between (fake, fake, real) and (real, real, fake), as in
    the paper, so both classes are pulled together and pushed apart; anchor and
    positive are different faces. See :class:`_LabelledBatchSampler` for the
    arguments.
    """

    faces_per_item = 3

    def __iter__(self) -> Iterator[list[Triplet]]:
        streams = _ClassStreams(list(self.sampler), self.labels, _generator())
        for _ in range(len(self)):
            yield [_draw_triplet(streams, position) for position in range(self.batch_size)]


def _draw_triplet(streams: _ClassStreams, position: int) -> Triplet:
    same = 1 if position % 2 == 0 else 0
    anchor = streams.take(same, 1)[0]
    positive = streams.take(same, 1, exclude=anchor)[0]
    negative = streams.take(1 - same, 1)[0]
    return anchor, positive, negative


def fixed_triplets(labels: Sequence[int], count: int, seed: int) -> list[Triplet]:
    """``count`` triplets drawn once with ``seed``: the same validation triplets every time."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    streams = _ClassStreams(list(range(len(labels))), np.asarray(labels), generator)
    return [_draw_triplet(streams, position) for position in range(count)]
