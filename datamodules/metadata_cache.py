"""A per-dataset cache of video metadata, so an epoch (or a rerun) does not re-probe files.

Probing a video means opening it and reading its packet table: cheap once, slow
for tens of thousands of files at every start-up. The cache is a human-readable
JSON file, by default ``<root>/.video_meta.json``, that maps each video's path
(relative to the dataset root, so the dataset can move) to its
:class:`~datamodules.frame_sources.VideoMeta`, together with the file's size and
modification time: a file that changed is probed again. It is written atomically
(a temporary file renamed over the old one), so a killed job or two DDP ranks
writing at once never leave a torn file; an unreadable cache is ignored and
rebuilt. A dataset on a read-only disk keeps its cache in the user cache folder
(``$XDG_CACHE_HOME/deepfake-lab/video_meta``, default ``~/.cache/...``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from datamodules.frame_sources import VideoMeta
from datamodules.video_io import probe_video, video_kind

log = logging.getLogger(__name__)

CACHE_FILE_NAME = ".video_meta.json"
CACHE_VERSION = 1


def user_cache_dir() -> Path:
    """Where caches of read-only datasets go: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepfake-lab" / "video_meta"


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK)


def _user_cache_file(root: Path) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return user_cache_dir() / f"{root.name}-{digest}.json"


def default_cache_file(root: Path) -> Path:
    """The cache inside the dataset root, or in the user cache folder when it is read-only."""
    return root / CACHE_FILE_NAME if _writable(root) else _user_cache_file(root)


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class MetadataCache:
    """Video metadata of one dataset root, kept in a JSON file.

    Args:
        root: the dataset root; keys are paths relative to it.
        cache_file: where to keep the cache; None picks :func:`default_cache_file`.
    """

    def __init__(self, root: str | os.PathLike, cache_file: str | os.PathLike | None = None):
        self.root = Path(root).resolve()
        self.file = Path(cache_file) if cache_file else default_cache_file(self.root)
        self._entries: dict[str, dict[str, Any]] = self._load()
        self._dirty = False

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.file.is_file():
            return {}
        try:
            data = json.loads(self.file.read_text())
            if data.get("version") != CACHE_VERSION:
                raise ValueError(f"version {data.get('version')} != {CACHE_VERSION}")
            entries = data["videos"]
            if not isinstance(entries, dict):
                raise ValueError("'videos' is not a mapping")
            return entries
        except (OSError, ValueError, KeyError, AttributeError) as error:
            log.warning(
                "Ignoring the unreadable metadata cache %s (%s); rebuilding it", self.file, error
            )
            return {}

    def _key(self, path: Path) -> str:
        resolved = Path(path).resolve()
        try:
            return resolved.relative_to(self.root).as_posix()
        except ValueError:
            return str(resolved)

    @staticmethod
    def _signature(path: Path, frame_size: tuple[int, int] | None) -> list[Any]:
        """Size and mtime; a strip's meta also depends on the frame width it was cut with."""
        stat = path.stat()
        frame_width = frame_size[1] if frame_size and video_kind(path) == "strip" else None
        return [stat.st_size, stat.st_mtime_ns, frame_width]

    def get(
        self, path: str | os.PathLike, frame_size: tuple[int, int] | None = None
    ) -> VideoMeta | None:
        """The cached metadata of ``path``, or None when absent or stale."""
        path = Path(path)
        entry = self._entries.get(self._key(path))
        try:
            if entry is None or entry.get("signature") != self._signature(path, frame_size):
                return None
            return VideoMeta.from_json(entry["meta"])
        except (OSError, TypeError, KeyError):
            return None

    def put(
        self, path: str | os.PathLike, meta: VideoMeta, frame_size: tuple[int, int] | None = None
    ) -> None:
        """Record the metadata of ``path`` (saved by :meth:`save`)."""
        path = Path(path)
        self._entries[self._key(path)] = {
            "signature": self._signature(path, frame_size),
            "meta": meta.to_json(),
        }
        self._dirty = True

    def save(self) -> None:
        """Write the cache atomically; on a read-only location, fall back to the user cache."""
        if not self._dirty:
            return
        payload = json.dumps(
            {"version": CACHE_VERSION, "root": str(self.root), "videos": self._entries}
        )
        try:
            _write_atomically(self.file, payload)
        except OSError as error:
            fallback = _user_cache_file(self.root)
            log.warning("Cannot write %s (%s); caching in %s instead", self.file, error, fallback)
            try:
                _write_atomically(fallback, payload)
            except OSError as second:
                log.warning(
                    "Cannot write %s either (%s); metadata stays uncached", fallback, second
                )
                return
            self.file = fallback
        self._dirty = False

    def probe_all(
        self,
        paths: Sequence[str | os.PathLike],
        frame_size: tuple[int, int] | None = None,
        workers: int = 4,
    ) -> list[VideoMeta]:
        """Metadata of every path: from the cache, probing (in threads) only what is missing.

        Returns:
            One :class:`VideoMeta` per path, in order; bad files carry ``error``.
        """
        metas: list[VideoMeta | None] = [self.get(path, frame_size) for path in paths]
        missing = [i for i, meta in enumerate(metas) if meta is None]
        if missing:
            log.info("Probing %d of %d videos under %s", len(missing), len(paths), self.root)
            with ThreadPoolExecutor(max(1, workers)) as pool:
                probed = pool.map(lambda i: probe_video(paths[i], frame_size), missing)
                for i, meta in tqdm(
                    zip(missing, probed, strict=True),
                    total=len(missing),
                    desc="probing videos",
                    disable=len(missing) < 50,
                ):
                    metas[i] = meta
                    self.put(paths[i], meta, frame_size)
            self.save()
        return metas  # type: ignore[return-value]
