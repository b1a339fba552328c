"""What every index builder shares: the index columns, seeded group splits, checks, the CLI.

A video index has one row per video: ``video`` (an id unique in the dataset: the path
relative to the dataset root, without extension), ``path`` (the file, absolute),
``label`` (0 real, 1 fake), ``original`` (the id of the real video a fake was made from;
empty for real videos), ``split`` (``train``/``val``/``test``) and, where known,
``method``, ``dataset`` and ``source_identity``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["video", "path", "label", "original", "split"]
OPTIONAL_COLUMNS = ["method", "dataset", "source_identity"]
SPLITS = ("train", "val", "test")


class DatasetLayoutError(FileNotFoundError):
    """A dataset root is missing or not laid out as the builder expects."""


def require_dir(path: Path, what: str, hint: str) -> Path:
    """Return ``path`` if it is a folder, else raise a :class:`DatasetLayoutError`."""
    if not path.is_dir():
        raise DatasetLayoutError(f"{what} not found: {path} is not a folder. {hint}")
    return path


def video_files(folder: Path, extensions: Iterable[str] = (".mp4",)) -> list[Path]:
    """The video files directly inside ``folder``, sorted."""
    wanted = {e.lower() for e in extensions}
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in wanted)


def video_id(path: Path, root: Path) -> str:
    """The id of a video: its path relative to the dataset root, without extension."""
    return path.relative_to(root).with_suffix("").as_posix()


def group_split(groups: pd.Series, fractions: dict[str, float], seed: int) -> pd.Series:
    """Assign whole groups to splits, at random but reproducibly.

    Groups (an original with its fakes, an identity) are shuffled with ``seed`` and cut
    by the fractions of the group count, so no group is in two splits.

    Args:
        groups: the group key of every row.
        fractions: split name -> fraction of the groups (summing to 1), in the order the
            cut is made.
        seed: seed of the shuffle.

    Returns:
        The split of every row, indexed like ``groups``.
    """
    total = sum(fractions.values())
    if not np.isclose(total, 1.0) or any(f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    unique = np.array(sorted(groups.unique()), dtype=object)
    order = np.random.default_rng(seed).permutation(len(unique))
    bounds = np.round(np.cumsum(list(fractions.values())) * len(unique)).astype(int)
    assignment: dict[Any, str] = {}
    start = 0
    for name, stop in zip(fractions, bounds, strict=True):
        for position in order[start:stop]:
            assignment[unique[position]] = name
        start = stop
    return groups.map(assignment)


def originals_crossing_splits(index: pd.DataFrame) -> list[str]:
    """Originals whose video and fakes are not all in one split (a train/test leak)."""
    family = index["original"].where(index["original"] != "", index["video"])
    splits_per_family = index.groupby(family)["split"].nunique()
    return sorted(splits_per_family[splits_per_family > 1].index)


def finish_index(rows: pd.DataFrame, dataset: str, check_crossing: bool = True) -> pd.DataFrame:
    """Order and type the columns, check ids and splits, log the counts.

    Raises:
        ValueError: repeated ids, bad labels or splits, or an original in two splits.
    """
    index = rows.copy()
    if "dataset" not in index:
        index["dataset"] = dataset
    for column in ("original", "method", "source_identity"):
        index[column] = index[column].fillna("").astype(str) if column in index else ""
    index["label"] = index["label"].astype(int)
    repeated = index["video"][index["video"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"{dataset}: video ids repeat: {', '.join(repeated[:10])}")
    bad = sorted(set(index["split"].unique()) - set(SPLITS))
    if bad:
        raise ValueError(f"{dataset}: unknown split names {bad}; use train, val or test.")
    if check_crossing:
        crossing = originals_crossing_splits(index)
        if crossing:
            raise ValueError(
                f"{dataset}: {len(crossing)} originals have videos in several splits "
                f"(e.g. {', '.join(crossing[:5])}): a fake and its original must share a split."
            )
    columns = INDEX_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in index.columns]
    index = index[columns + [c for c in index.columns if c not in columns]]
    index = index.sort_values("video", ignore_index=True)
    log.info("%s index:\n%s", dataset, describe(index))
    return index


def describe(index: pd.DataFrame) -> str:
    """A split x label count table, for logs and the CLI."""
    counts = pd.crosstab(index["split"], index["label"].map({0: "real", 1: "fake"}))
    counts = counts.reindex([s for s in SPLITS if s in counts.index])
    return counts.to_string()


def parse_overrides(arguments: Sequence[str]) -> dict[str, Any]:
    """Turn ``key=value`` arguments into keyword arguments (values parsed as YAML)."""
    options: dict[str, Any] = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key:
            raise SystemExit(f"Arguments are key=value pairs, got {argument!r}.")
        options[key] = yaml.safe_load(value) if value else None
    return options


def run_cli(builder: Callable[..., pd.DataFrame], arguments: Sequence[str] | None = None) -> None:
    """``python -m datamodules.indexes.<name> root=DIR output=FILE.csv [option=value ...]``."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = parse_overrides(sys.argv[1:] if arguments is None else arguments)
    output = options.pop("output", None)
    if not output or "root" not in options:
        raise SystemExit(
            f"usage: python -m {builder.__module__} root=DATASET_DIR output=INDEX.csv "
            "[option=value ...]; options: see the docstring of "
            f"{builder.__module__}.{builder.__name__}"
        )
    try:
        index = builder(**options)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"error: {error}") from None
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    index.to_csv(output, index=False)
    print(f"Wrote {len(index)} videos to {output}")
