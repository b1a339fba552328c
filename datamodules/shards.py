"""Splitting a long data job (face extraction, fakes generation) into shards by video.

Why a hash of the video id: a shard's videos must be the same on every machine and in
every rerun, so that each shard resumes its own work and no video is done twice or
missed. A hash of the id depends on nothing else: not on the order a folder is listed
in, not on which other videos exist (adding videos to a dataset moves no finished video
to another shard), not on Python's per-process string hash seed.

Shard ``i`` of ``n`` writes its own tables, named ``<stem>_shard<i>of<n>.<ext>``
(:func:`shard_file`); a merge joins them into the tables one process would have written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """One shard of a job split ``count`` ways; ``Shard(0, 1)`` is the whole job.

    Raises:
        ValueError: ``count`` is below 1 or ``index`` is outside ``0 .. count - 1``.
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"num_shards={self.count!r} must be a whole number >= 1.")
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise ValueError(f"shard={self.index!r} must be a whole number.")
        if not 0 <= self.index < self.count:
            raise ValueError(
                f"shard={self.index} is outside 0..{self.count - 1} for num_shards={self.count}; "
                f"run the shards 0 to {self.count - 1} (e.g. -m shard='range({self.count})')."
            )

    @property
    def sharded(self) -> bool:
        """Whether the job is split at all."""
        return self.count > 1

    def owns(self, video: str) -> bool:
        """Whether ``video`` (an id) belongs to this shard."""
        return shard_of(video, self.count) == self.index

    def select(self, videos: Iterable[str]) -> list[bool]:
        """One flag per video id: whether it belongs to this shard."""
        return [self.owns(video) for video in videos]

    def file(self, name: str) -> str:
        """This shard's version of a table name (``name`` itself when not sharded)."""
        return shard_file(name, self.index, self.count) if self.sharded else name

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}"


def shard_of(video: str, num_shards: int) -> int:
    """The shard of a video id: a stable hash of its UTF-8 bytes, modulo ``num_shards``."""
    digest = hashlib.sha1(str(video).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def shard_file(name: str, index: int, count: int) -> str:
    """``faces.csv`` -> ``faces_shard0of2.csv``: a shard's own copy of a table."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    return f"{stem}_shard{index}of{count}{dot}{extension}"


def all_shards(count: int) -> list[Shard]:
    """Every shard of a job split ``count`` ways, in order."""
    return [Shard(index, count) for index in range(Shard(0, count).count)]
