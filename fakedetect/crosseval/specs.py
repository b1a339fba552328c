"""What a cross-dataset evaluation compares: detectors (weights, ensembles) and test sets.

Detectors come as ``{name: spec}`` or a list of specs, a spec being a weights path, a list
of them (an ensemble averaging the logits), or ``{checkpoint: ..., architecture: ...}``;
the checkpoint forms are :func:`fakedetect.scoring.checkpoint_specs`'s.

Test sets come as ``{name: spec}`` or a list of specs, a spec being:

- a video index CSV (what ``datamodules.indexes.*`` builders, ``python -m loop.fakes``
  (``labels.csv``) and the folder index write: ``path``, ``label``, optional ``video``,
  ``split``, ``method``), paths relative to the CSV's folder;
- a folder of videos with ``labels.csv`` (or ``labels_csv``), read by
  :func:`datamodules.indexes.folder.folder_index`;
- a mapping: ``index`` (a CSV path, a DataFrame, or a Hydra config with ``_target_``
  returning one, e.g. an index builder with ``_partial_: true``) or ``folder`` (with
  ``labels_csv``), and ``split`` (default ``test``; null for every video), ``faces`` (the
  face protocol's settings that differ for this set) and ``max_videos`` (per label).

A set's ``split`` applies only when its index has splits; an index without them is
evaluated whole (a labels CSV of test videos only).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import pandas as pd

from datamodules.indexes.folder import folder_index
from datamodules.video_list import list_videos
from fakedetect.scoring import checkpoint_specs

log = logging.getLogger(__name__)

_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "real": 0, "fake": 1}


@dataclass
class DetectorSpec:
    """One detector of the table: a network or an ensemble of them.

    Attributes:
        name: its row in the table.
        members: ``{path, architecture, name}`` of each network (one for a single one).
    """

    name: str
    members: list[dict[str, Any]]


@dataclass
class EvalSet:
    """One test set: its videos and the face settings they are scored with.

    Attributes:
        name: its column in the table.
        videos: ``video, path, label, method, key``; ``key`` identifies the file (its
            resolved path and size) in the face and score caches.
        faces: the set's face protocol overrides (merged over the run's).
        source: where it came from, for the logs.
        split: the split its videos were taken from (None: the index has no splits, or
            every split was asked for).
    """

    name: str
    videos: pd.DataFrame
    faces: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    split: str | None = None


def _as_items(specs: Mapping[str, Any] | Sequence[Any] | None, what: str) -> list[tuple]:
    if not specs:
        raise ValueError(f"Give at least one {what} (see conf/crosseval.yaml).")
    if isinstance(specs, Mapping):
        return [(str(name), spec) for name, spec in specs.items()]
    if isinstance(specs, str | os.PathLike):
        specs = [specs]
    return [(None, spec) for spec in specs]


def _unique(names: list[str], what: str) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"Two {what}s are called {', '.join(repeated)}; name them apart.")


def detector_specs(detectors: Mapping[str, Any] | Sequence[Any]) -> list[DetectorSpec]:
    """Normalise the ``detectors`` option (see the module docstring)."""
    out = []
    for name, spec in _as_items(detectors, "detector (detectors=...)"):
        architecture = None
        if isinstance(spec, Mapping) and "checkpoint" in spec:
            architecture = spec.get("architecture")
            name = name or spec.get("name")
            spec = spec["checkpoint"]
        members = checkpoint_specs(spec, architecture)
        out.append(DetectorSpec(name or "+".join(m["name"] for m in members), members))
    _unique([d.name for d in out], "detector")
    return out


def video_cache_key(path: str | os.PathLike) -> str:
    """The cache key of a video file: its stem and a digest of its resolved path and size.

    Why not the dataset's video id: ids repeat across datasets (``real/000``), and a file
    replaced by another of a different size must not reuse the old scores.
    """
    resolved = Path(path).resolve()
    size = resolved.stat().st_size if resolved.is_file() else -1
    digest = hashlib.sha1(f"{resolved}|{size}".encode()).hexdigest()[:12]
    return f"{resolved.stem}_{digest}"


def _index_table(index: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(index columns, video/path table)`` of a CSV, a DataFrame or a ``_target_`` config."""
    if isinstance(index, Mapping) and "_target_" in index:
        built = hydra.utils.instantiate(dict(index))
        index = built() if callable(built) else built
    if isinstance(index, pd.DataFrame):
        return index.reset_index(drop=True), list_videos(index)
    path = Path(index)
    if not path.is_file():
        raise FileNotFoundError(f"Test set index {path} does not exist; give a video index CSV.")
    return pd.read_csv(path, dtype=str, keep_default_na=False), list_videos(path)


def _folder_table(folder: Any, labels_csv: Any) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    labels = Path(labels_csv) if labels_csv else Path(folder) / "labels.csv"
    given = labels.is_file() and "split" in pd.read_csv(labels, nrows=0).columns
    index = folder_index(folder, labels_csv)
    return index, index[["video", "path"]], given


def _labels(values: pd.Series, where: str) -> pd.Series:
    labels = values.astype(str).str.strip().str.lower().map(_LABELS)
    if labels.isna().any():
        bad = sorted(values[labels.isna()].astype(str).unique())[:5]
        raise ValueError(f"{where}: labels {bad} are not 0/1 or real/fake.")
    return labels.astype(int)


def load_eval_set(name: str | None, spec: Any, max_videos: int | None = None) -> EvalSet:
    """Read one test set (see the module docstring for the forms of ``spec``).

    Raises:
        FileNotFoundError: a missing index or folder.
        ValueError: no label column, unknown labels, or no video left after the split.
    """
    options = dict(spec) if isinstance(spec, Mapping) and not _is_index_config(spec) else {}
    if not options:
        source = spec
        options = {"folder": spec} if _is_folder(spec) else {"index": spec}
    split = options.get("split", "test")
    if "folder" in options:
        source = options["folder"]
        index, paths, has_splits = _folder_table(options["folder"], options.get("labels_csv"))
    elif "index" in options:
        source = options["index"]
        index, paths = _index_table(options["index"])
        has_splits = "split" in index.columns and (index["split"].astype(str) != "").any()
    else:
        raise ValueError(f"Test set {name}: give index=CSV or folder=DIR, got {dict(options)}")
    where = f"test set {name or source}"
    if "label" not in index.columns:
        raise ValueError(f"{where}: the index has no 'label' column (0 real, 1 fake).")
    table = pd.DataFrame(
        {
            "video": paths["video"].to_numpy(),
            "path": paths["path"].to_numpy(),
            "label": _labels(index["label"], where).to_numpy(),
            "method": index["method"].astype(str).to_numpy() if "method" in index else "",
        }
    )
    if split and has_splits:
        table = table[index["split"].astype(str).to_numpy() == split]
    elif split:
        log.info("%s has no splits: all of its %d videos are evaluated", where, len(table))
        split = None
    table = table.sort_values("video", kind="stable")
    limit = options.get("max_videos", max_videos)
    if limit:
        table = table.groupby("label", group_keys=False).head(int(limit))
    table = table.reset_index(drop=True)
    if table.empty:
        raise ValueError(f"{where}: no videos in split {split!r}; set split=null for all.")
    table["key"] = [video_cache_key(path) for path in table["path"]]
    if name is None and not isinstance(source, str | os.PathLike):
        raise ValueError(f"Name the test set of {type(source).__name__} (test_sets={{name: ...}}).")
    if name is None:
        path = Path(source)
        # A dataset's labels.csv / index.csv is named after its folder.
        name = path.name if _is_folder(path) else path.stem
        name = path.parent.name if name in ("labels", "index") else name
    return EvalSet(str(name), table, dict(options.get("faces") or {}), str(source), split)


def _is_index_config(spec: Any) -> bool:
    return isinstance(spec, Mapping) and "_target_" in spec


def _is_folder(spec: Any) -> bool:
    return isinstance(spec, str | os.PathLike) and Path(spec).is_dir()


def load_eval_sets(
    sets: Mapping[str, Any] | Sequence[Any], max_videos: int | None = None
) -> list[EvalSet]:
    """Read every test set of the ``test_sets`` option."""
    out = [load_eval_set(name, spec, max_videos) for name, spec in _as_items(sets, "test set")]
    _unique([s.name for s in out], "test set")
    return out
