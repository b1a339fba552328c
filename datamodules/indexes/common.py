"""What every index builder shares: the index columns, seeded group splits, checks, writing.

A video index has one row per video: ``video`` (an id unique in the dataset: the path
relative to the dataset root, without extension), ``path`` (the file, absolute),
``label`` (0 real, 1 fake), ``original`` (the id of the real video a fake was made from;
empty for real videos), ``split`` (``train``/``val``/``test``) and, where known,
``method``, ``dataset``, ``identity`` (the person the video shows; for a fake, the person
of its original) and ``source_identity`` (the person whose face a fake puts there).

The split rule every builder keeps: no original (a real video with its fakes) and no
identity (as ``identity``, ``source_identity`` or ``driving_identity``) is in two splits,
so validation never shows a test person and a detector is tested on people it never saw.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.plain import plain_container

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["video", "path", "label", "original", "split"]
OPTIONAL_COLUMNS = ["method", "dataset", "identity", "source_identity"]
IDENTITY_COLUMNS = ("identity", "source_identity", "driving_identity")
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


def split_sizes(count: int, fractions: dict[str, float]) -> dict[str, int]:
    """How many of ``count`` groups each split gets: the cumulative fractions, rounded.

    Every split with a positive fraction gets at least one group while there are enough
    groups (taken from the largest split), so rounding never leaves validation empty.
    """
    bounds = np.round(np.cumsum(list(fractions.values())) * count).astype(int)
    sizes = dict(zip(fractions, np.diff(bounds, prepend=0).tolist(), strict=True))
    wanted = [name for name, fraction in fractions.items() if fraction > 0]
    for name in wanted[:count]:
        if sizes[name] == 0:
            donor = max(sizes, key=lambda other: sizes[other])
            sizes[donor] -= 1
            sizes[name] += 1
    return sizes


def group_split(groups: pd.Series, fractions: dict[str, float], seed: int) -> pd.Series:
    """Assign whole groups to splits, at random but reproducibly.

    Groups (an original with its fakes, an identity) are shuffled with ``seed`` and cut
    by the fractions of the group count (:func:`split_sizes`), so no group is in two splits.

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
    assignment: dict[Any, str] = {}
    start = 0
    for name, size in split_sizes(len(unique), fractions).items():
        for position in order[start : start + size]:
            assignment[unique[position]] = name
        start += size
    return groups.map(assignment)


def identity_split(
    identity: pd.Series, others: Sequence[pd.Series], fractions: dict[str, float], seed: int
) -> pd.Series:
    """Split rows by the people they show; rows showing people of two splits get none.

    Every identity (of ``identity`` and ``others``) is assigned to a split as a whole
    (:func:`group_split`, seeded). A row takes its ``identity``'s split when the other
    people it shows (a fake's face donor, its driver) are in that split too; otherwise it
    gets NaN: such a fake cannot be placed without showing a person of another split, and
    the builder leaves it out (and says how many).

    Args:
        identity: the person of every row (for a fake, the person of its original).
        others: further people of every row (empty strings where none).
        fractions: split name -> fraction of the identities.
        seed: seed of the shuffle.

    Returns:
        The split of every row, NaN for rows left out.
    """
    people = set(identity) | {person for column in others for person in column if person}
    people.discard("")
    names = pd.Series(sorted(people), dtype=object)
    assignment = dict(zip(names, group_split(names, fractions, seed), strict=True))
    split = identity.map(assignment)
    for column in others:
        theirs = column.map(assignment)
        crossing = column.ne("") & theirs.ne(split)
        split = split.mask(crossing)
    return split


def originals_crossing_splits(index: pd.DataFrame) -> list[str]:
    """Originals whose video and fakes (made from it or driven by it) are not in one split.

    A video id listed twice in different splits counts too.
    """
    if "original" in index:
        original = index["original"].fillna("").astype(str)
    else:  # an index of real videos only, or one that does not say where fakes came from
        original = pd.Series("", index=index.index)
    family = index["video"].where(original == "", original)
    links = [pd.DataFrame({"family": family, "split": index["split"]})]
    if "driving_video" in index:
        driven = index[index["driving_video"].fillna("").astype(str) != ""]
        links.append(pd.DataFrame({"family": driven["driving_video"], "split": driven["split"]}))
    pairs = pd.concat(links, ignore_index=True)
    splits_per_family = pairs.groupby("family")["split"].nunique()
    return sorted(splits_per_family[splits_per_family > 1].index)


def identities_crossing_splits(index: pd.DataFrame) -> list[str]:
    """People (``identity``, ``source_identity``, ``driving_identity``) found in two splits."""
    links = [
        pd.DataFrame({"person": index[column].fillna("").astype(str), "split": index["split"]})
        for column in IDENTITY_COLUMNS
        if column in index
    ]
    if not links:
        return []
    pairs = pd.concat(links, ignore_index=True)
    pairs = pairs[pairs["person"] != ""]
    splits_per_person = pairs.groupby("person")["split"].nunique()
    return sorted(splits_per_person[splits_per_person > 1].index)


def split_leaks(index: pd.DataFrame) -> str | None:
    """What crosses splits (originals, identities), in words; None when nothing does."""
    parts = []
    for what, crossing in (
        ("originals", originals_crossing_splits(index)),
        ("identities", identities_crossing_splits(index)),
    ):
        if crossing:
            parts.append(
                f"{len(crossing)} {what} have videos in several splits "
                f"(e.g. {', '.join(map(str, crossing[:5]))})"
            )
    return "; ".join(parts) or None


def log_left_out(dataset: str, left_out: pd.DataFrame, why: str) -> None:
    """Warn about videos a builder could not place in any split without a leak."""
    if len(left_out):
        log.warning(
            "%s: %d videos left out (e.g. %s): %s",
            dataset,
            len(left_out),
            ", ".join(left_out["video"].head(3)),
            why,
        )


def finish_index(
    rows: pd.DataFrame, dataset: str, leaks: str = "raise", hint: str = ""
) -> pd.DataFrame:
    """Order and type the columns, check ids and splits, log the counts.

    Args:
        rows: the index rows.
        dataset: its name, for messages and the ``dataset`` column.
        leaks: ``raise`` when an original or an identity is in two splits; ``warn`` only
            for a protocol that has them by definition (Celeb-DF's official test list).
        hint: how to fix such a leak, added to the message.

    Raises:
        ValueError: repeated ids, bad labels or splits, or an original or identity in two
            splits.
    """
    index = rows.copy()
    if "dataset" not in index:
        index["dataset"] = dataset
    for column in ("original", "method", "identity", "source_identity"):
        index[column] = index[column].fillna("").astype(str) if column in index else ""
    index["label"] = index["label"].astype(int)
    repeated = index["video"][index["video"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"{dataset}: video ids repeat: {', '.join(repeated[:10])}")
    bad = sorted(set(index["split"].unique()) - set(SPLITS))
    if bad:
        raise ValueError(f"{dataset}: unknown split names {bad}; use train, val or test.")
    leak = split_leaks(index)
    if leak and leaks == "raise":
        raise ValueError(
            f"{dataset}: {leak}: a fake, its original and every person it shows must share "
            f"one split, or validation and test see what training saw. {hint}".rstrip()
        )
    if leak:
        log.warning("%s: %s (the protocol's own split).", dataset, leak)
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


def write_index(builder: Callable[..., pd.DataFrame], cfg: Mapping[str, Any]) -> pd.DataFrame:
    """Build an index with the builder's options from a command's config; write ``output``.

    Why one function: the four builder commands (``conf/index/*.yaml``) differ only in the
    builder they run.

    Raises:
        ValueError: ``root`` or ``output`` not given.
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not cfg.get("root") or not cfg.get("output"):
        name = builder.__name__.removesuffix("_index")
        raise ValueError(
            f"give root=DATASET_DIR and output=INDEX.csv; the other options are in "
            f"conf/index/{name}.yaml (python -m datamodules.indexes.{name} --help)"
        )
    names = inspect.signature(builder).parameters
    index = builder(**{name: plain_container(cfg[name]) for name in names if name in cfg})
    output = Path(cfg["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    index.to_csv(output, index=False)
    print(f"Wrote {len(index)} videos to {output}")
    return index
