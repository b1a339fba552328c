"""Per-face logits of one network under one face protocol, kept per video across runs.

One CSV per (network, protocol) in the cache folder, named ``<weights stem>-<key>.csv``,
where the key digests the weights file's SHA-256 and the protocol (face
detector, frames per video, crop policy, size, margin, faces per frame, precision): other
weights or other settings never read these scores. Beside it, ``<same>.json`` says what
the key stands for. Rows: ``key, status, frames_sampled, faces, frame, face_rank, logit``,
one per scored face, or one with an empty face for a video without a face (``no_face``).
Videos are keyed by :func:`fakedetect.crosseval.specs.video_cache_key` (file path and size), so
a video in two test sets is scored once.

Each video's rows are appended in one write and flushed, so a killed run loses at most
the video it was writing: a torn last line is cut off, and a video whose row count does
not match its ``faces`` column is dropped (and scored again) when the file is next read.
Unreadable videos are not cached; they are tried again, as extraction retries them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fakedetect.calibration_store import file_digest

log = logging.getLogger(__name__)

CACHE_COLUMNS = ["key", "status", "frames_sampled", "faces", "frame", "face_rank", "logit"]
FACE_COLUMNS = ["frame", "face_rank", "logit"]


def member_key(member: Mapping[str, Any], protocol: Mapping[str, Any]) -> str:
    """The digest naming a network's cache: its weights' bytes and the face protocol.

    Why not the architecture: the bytes decide it (our checkpoints record their network,
    and the paper's weights load only into the architecture their entries name), so the
    same file named with or without ``architecture=`` shares one cache.
    """
    record = {"weights_sha256": file_digest(member["path"]), "protocol": protocol}
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _cut_torn_line(path: Path) -> None:
    """Drop a last line without its newline (a write cut short by a kill)."""
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return
        handle.seek(max(0, size - (1 << 20)))
        tail = handle.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)
        log.warning("%s: dropped a torn last line (an interrupted run)", path)


class ScoreCache:
    """The cached face logits of one network under one face protocol.

    Args:
        folder: the cache folder (created).
        member: ``{path, architecture, name}`` of the network.
        protocol: every setting that changes the logits (see :func:`member_key`).
    """

    def __init__(
        self, folder: str | os.PathLike, member: Mapping[str, Any], protocol: Mapping[str, Any]
    ) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.key = member_key(member, protocol)
        self.path = folder / f"{Path(member['path']).stem}-{self.key}.csv"
        description = folder / f"{self.path.stem}.json"
        if not description.is_file():
            record = {"weights": str(Path(member["path"]).resolve()), **member}
            description.write_text(
                json.dumps({**record, "protocol": protocol}, indent=2, default=str)
            )
        self._faces: dict[str, pd.DataFrame] = {}
        self._sampled: dict[str, int] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            self.path.write_text(",".join(CACHE_COLUMNS) + "\n")
            return
        _cut_torn_line(self.path)
        table = pd.read_csv(self.path, dtype={"key": str, "status": str})
        complete = []
        for key, rows in table.groupby("key", sort=False):
            faces = rows[rows["status"] == "ok"]
            expected = int(rows["faces"].iloc[0])
            if len(faces) != expected or (expected == 0 and len(rows) != 1):
                continue
            self._faces[key] = faces[FACE_COLUMNS].astype(
                {"frame": int, "face_rank": int, "logit": float}
            )
            self._sampled[key] = int(rows["frames_sampled"].iloc[0])
            complete.append(key)
        if len(complete) != table["key"].nunique():
            log.warning(
                "%s: %d incomplete videos dropped (scored again)",
                self.path,
                table["key"].nunique() - len(complete),
            )
            kept = table[table["key"].isin(complete)]
            temporary = self.path.with_name(self.path.name + ".tmp")
            kept.to_csv(temporary, index=False)
            os.replace(temporary, self.path)

    def __contains__(self, key: str) -> bool:
        return key in self._faces

    def __len__(self) -> int:
        return len(self._faces)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys not cached yet, in order."""
        return [key for key in keys if key not in self._faces]

    def faces(self, key: str) -> pd.DataFrame:
        """``frame, face_rank, logit`` of a cached video (empty when it had no face)."""
        return self._faces[key]

    def frames_sampled(self, key: str) -> int:
        """Frames sampled from a cached video."""
        return self._sampled[key]

    def add(self, key: str, frames_sampled: int, faces: pd.DataFrame) -> None:
        """Append one scored video (``faces``: its ``frame, face_rank, logit`` rows)."""
        faces = faces[FACE_COLUMNS].reset_index(drop=True)
        status = "ok" if len(faces) else "no_face"
        rows = faces.assign(key=key, status=status, frames_sampled=frames_sampled, faces=len(faces))
        if faces.empty:
            rows = pd.DataFrame([{"key": key, "status": status, "frames_sampled": frames_sampled}])
            rows["faces"] = 0
        with self.path.open("a", newline="") as handle:
            handle.write(rows.reindex(columns=CACHE_COLUMNS).to_csv(index=False, header=False))
            handle.flush()
        self._faces[key] = faces.astype({"frame": int, "face_rank": int, "logit": float})
        self._sampled[key] = int(frames_sampled)
