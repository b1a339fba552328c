"""The landmarks of every face crop self-blending uses: stored, cached, or detected once.

Where a crop's points come from, in order:

- a 68-point detector (face-alignment, when it can run offline): run once per crop and
  cached, because its hull is the paper's;
- the five points face extraction stored in ``faces.csv`` (:mod:`datamodules.face_landmarks`);
- the configured detector (MTCNN's five points when face-alignment cannot run) on the
  crop, once per crop, cached.

The cache is ``<faces_dir>/self_blend_landmarks/<detector>.npz`` (crop paths and their
points, NaN where the detector found no face, so it does not search again), or a folder
under the user cache (``$XDG_CACHE_HOME/deepfake-lab/self_blend_landmarks``) when the
faces folder is read-only. The detector itself arrives by config (from the detector
package); this module only needs it to be callable on a list of uint8 RGB crops and to
have a ``name`` and ``num_points``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from datamodules.face_crops import read_crop
from datamodules.face_landmarks import stored_landmarks

log = logging.getLogger(__name__)

STORED = "stored_5"
NONE = "none"
_CHUNK = 64
_SAVE_EVERY = 2048


class LandmarkDetector(Protocol):
    """What the data layer needs of a landmark detector."""

    name: str
    num_points: int

    def __call__(self, crops: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """Points of each crop's face, or None."""


@dataclass
class CropLandmarks:
    """The points of each row of a crop table and where they came from.

    Attributes:
        points: per row, ``(K, 2)`` float32 crop pixels, or None (no mask possible).
        sources: per row, the detector's name, ``stored_5`` or ``none``.
    """

    points: list[np.ndarray | None]
    sources: list[str]

    def counts(self) -> dict[str, int]:
        """Rows per source."""
        return dict(Counter(self.sources))


def cache_folder(faces_dir: Path) -> Path:
    """Where the detected landmarks of a faces folder are kept (user cache if read-only)."""
    if os.access(faces_dir, os.W_OK):
        return faces_dir / "self_blend_landmarks"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha1(str(faces_dir.resolve()).encode()).hexdigest()[:12]
    return base / "deepfake-lab" / "self_blend_landmarks" / f"{faces_dir.name}-{digest}"


class LandmarkCache:
    """Detected points per crop path, in one ``.npz`` file per detector."""

    def __init__(self, folder: Path, detector_name: str) -> None:
        self.file = folder / f"{detector_name}.npz"
        self.points: dict[str, np.ndarray] = {}
        if self.file.is_file():
            try:
                with np.load(self.file, allow_pickle=False) as stored:
                    self.points = dict(zip(stored["paths"].tolist(), stored["points"], strict=True))
            except (OSError, ValueError, KeyError) as error:
                log.warning("Ignoring the unreadable landmark cache %s (%s)", self.file, error)

    def save(self) -> None:
        """Write the file atomically (two ranks or a kill never leave it torn)."""
        if not self.points:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.file.parent, suffix=".npz")
        os.close(handle)
        try:
            paths = np.array(list(self.points), dtype=str)
            np.savez(temporary, paths=paths, points=np.stack(list(self.points.values())))
            os.replace(temporary, self.file)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _detect_missing(
    paths: Sequence[str],
    faces_dir: Path,
    detector: LandmarkDetector,
    cache: LandmarkCache,
    progress: bool,
) -> None:
    todo = [path for path in dict.fromkeys(paths) if path not in cache.points]
    if not todo:
        return
    unknown = np.full((detector.num_points, 2), np.nan, dtype=np.float32)
    bar = tqdm(total=len(todo), desc=f"Landmarks ({detector.name})", disable=not progress)
    try:
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            crops = {path: read_crop(faces_dir / path) for path in chunk}
            readable = [path for path, crop in crops.items() if crop is not None]
            found = detector([crops[path] for path in readable]) if readable else []
            results = dict(zip(readable, found, strict=True))
            for path in chunk:
                points = results.get(path)
                cache.points[path] = unknown if points is None else np.asarray(points, np.float32)
            bar.update(len(chunk))
            if (start // _CHUNK + 1) % (_SAVE_EVERY // _CHUNK) == 0:
                cache.save()
    finally:
        bar.close()
        cache.save()


def resolve_crop_landmarks(
    table: pd.DataFrame,
    faces_dir: str | os.PathLike,
    detector: LandmarkDetector | None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> CropLandmarks:
    """The mask landmarks of every row of ``table`` (``path`` and optional landmark columns).

    Args:
        table: crop rows (``path`` relative to ``faces_dir``).
        faces_dir: the extraction folder.
        detector: runs on crops the other sources leave without points; None: stored only.
        progress: show a progress bar while detecting.
        cache_dir: where the cache goes (default :func:`cache_folder`).
    """
    faces_dir = Path(faces_dir)
    paths = table["path"].astype(str).tolist()
    stored = stored_landmarks(table)
    has_stored = ~np.isnan(stored).any(axis=(1, 2))
    detected: dict[str, np.ndarray] = {}
    if detector is not None:
        needs = paths
        if detector.num_points <= 5:
            needs = [path for path, known in zip(paths, has_stored, strict=True) if not known]
        if needs:
            folder = Path(cache_dir) if cache_dir else cache_folder(faces_dir)
            cache = LandmarkCache(folder, detector.name)
            _detect_missing(needs, faces_dir, detector, cache, progress)
            detected = {path: cache.points[path] for path in needs}
    prefer_detector = detector is not None and detector.num_points > 5
    detector_name = detector.name if detector is not None else NONE
    points: list[np.ndarray | None] = []
    sources: list[str] = []
    for row, path in enumerate(paths):
        options = [
            (stored[row] if has_stored[row] else None, STORED),
            (_found(detected.get(path)), detector_name),
        ]
        if prefer_detector:
            options.reverse()
        found, source = next(((p, s) for p, s in options if p is not None), (None, NONE))
        points.append(found)
        sources.append(source)
    return CropLandmarks(points, sources)


def _found(points: np.ndarray | None) -> np.ndarray | None:
    if points is None or np.isnan(points).any():
        return None
    return points
