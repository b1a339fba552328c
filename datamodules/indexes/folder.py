"""A video index for any folder of videos described by a labels CSV.

The labels CSV (default ``ROOT/labels.csv``) has one row per video:

- ``path`` (or ``file``), relative to ROOT, or ``video`` (the path without extension);
- ``label``: 0/1, or ``real``/``fake`` in any case (1 = fake);
- optional ``split`` (``train``/``val``/``test``); when absent for all rows, a seeded split
  by person is drawn (a fake goes with the real video it was made from);
- optional ``original``: the real video a fake was made from, as its path, file name or id;
- optional ``identity`` (the person a video shows; a fake without one takes its
  original's) and ``source_identity`` (the person whose face a fake puts there): then the
  seeded split keeps every person in one split, leaving out (with a warning) a fake whose
  two people fell in different splits; without them each original is its own person;
- any other column (``method``, ``dataset`` ...) is kept.

A given ``split`` column is checked: an original or a person in two splits is refused.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_user_error
from datamodules.indexes.common import (
    DatasetLayoutError,
    finish_index,
    identity_split,
    log_left_out,
    write_index,
)
from datamodules.video_io import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

_LABELS = {"0": 0, "1": 1, "real": 0, "fake": 1, "0.0": 0, "1.0": 1}


def _locate(root: Path, table: pd.DataFrame, labels_csv: Path) -> pd.Series:
    if "path" in table or "file" in table:
        return table["path" if "path" in table else "file"].astype(str)
    if "video" not in table:
        raise ValueError(f"{labels_csv} needs a 'path' (or 'file') or a 'video' column.")
    found = []
    for video in table["video"].astype(str):
        matches = [
            root / f"{video}{ext}" for ext in VIDEO_EXTENSIONS if (root / f"{video}{ext}").is_file()
        ]
        if not matches:
            raise FileNotFoundError(
                f"{labels_csv}: no file for video {video!r} under {root} "
                f"(tried {', '.join(VIDEO_EXTENSIONS)}); give a 'path' column instead."
            )
        found.append(matches[0].relative_to(root).as_posix())
    return pd.Series(found, index=table.index)


def folder_index(
    root: str | os.PathLike,
    labels_csv: str | os.PathLike | None = None,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> pd.DataFrame:
    """Index a folder of videos from its labels CSV.

    Args:
        root: the folder of videos (paths in the CSV are relative to it).
        labels_csv: the labels CSV (default ``ROOT/labels.csv``).
        val_fraction: share of the people (originals) for validation when no split is given.
        test_fraction: share for testing when no split is given.
        seed: seed of that split.

    Raises:
        DatasetLayoutError: the root or the labels CSV is missing.
        FileNotFoundError: a listed video is not on disk.
        ValueError: a missing column, an unknown label or split, or a given split that puts
            an original or a person in two splits.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetLayoutError(f"Video folder {root} does not exist.")
    labels_csv = Path(labels_csv) if labels_csv else root / "labels.csv"
    if not labels_csv.is_file():
        raise DatasetLayoutError(
            f"Labels CSV {labels_csv} not found; write one with the columns path, label and "
            "optionally split and original, or pass labels_csv=..."
        )
    table = pd.read_csv(labels_csv, dtype=str, keep_default_na=False)
    if "label" not in table:
        raise ValueError(f"{labels_csv} has no 'label' column (0/1 or real/fake).")
    relative = _locate(root, table, labels_csv)
    missing = [p for p in relative if not (root / p).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{labels_csv}: {len(missing)} listed videos are not under {root} (e.g. {missing[0]})."
        )
    labels = table["label"].str.strip().str.lower().map(_LABELS)
    if labels.isna().any():
        bad = sorted(table["label"][labels.isna()].unique())
        raise ValueError(f"{labels_csv}: labels {bad} are not 0/1 or real/fake.")
    ids = [Path(p).with_suffix("").as_posix() for p in relative]
    index = table.drop(columns=[c for c in ("path", "file", "video", "label") if c in table])
    index.insert(0, "video", ids)
    index.insert(1, "path", [str(root / p) for p in relative])
    index.insert(2, "label", labels.astype(int))
    by_name = {}
    for vid, rel in zip(ids, relative, strict=True):
        by_name.update({vid: vid, rel: vid, Path(rel).name: vid, Path(rel).stem: vid})
    originals = index["original"] if "original" in index else pd.Series("", index=index.index)
    index["original"] = [
        by_name.get(o, Path(o).with_suffix("").as_posix()) if o else "" for o in originals
    ]
    for column in ("identity", "source_identity"):
        index[column] = index[column].fillna("").astype(str).str.strip() if column in index else ""
    # A fake without an identity shows its original's person.
    identity_of = dict(zip(index["video"], index["identity"], strict=True))
    inherited = index["original"].map(identity_of).fillna("")
    index["identity"] = index["identity"].where(index["identity"] != "", inherited)
    given = index["split"].str.strip() if "split" in index else pd.Series("", index=index.index)
    if (given == "").all():
        # One person per original and its fakes: the original's identity, else a fake's,
        # else the original itself.
        family = index["original"].where(index["original"] != "", index["video"])
        named = index.assign(family=family).sort_values("label", kind="stable")
        named = named[named["identity"] != ""].groupby("family")["identity"].first()
        person = pd.Series([named.get(key, f"original:{key}") for key in family], index=index.index)
        fractions = {
            "train": 1 - val_fraction - test_fraction,
            "val": val_fraction,
            "test": test_fraction,
        }
        index["split"] = identity_split(person, [index["source_identity"]], fractions, seed)
        log_left_out(
            "folder",
            index[index["split"].isna()],
            "fakes whose two people (identity, source_identity) fell in different splits",
        )
        index = index.dropna(subset=["split"])
    elif (given == "").any():
        raise ValueError(
            f"{labels_csv}: some rows have a split and others do not; fill them all or none."
        )
    else:
        index["split"] = given
    hint = f"Fix the split column of {labels_csv}, or empty it for a seeded split by person."
    return finish_index(index, "folder", hint=hint)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="index/folder")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m datamodules.indexes.folder root=DIR output=FILE.csv [option=value ...]``."""
    write_index(folder_index, cfg)


if __name__ == "__main__":
    main()
