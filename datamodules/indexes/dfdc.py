"""DFDC (Kaggle Deepfake Detection Challenge training set) video index, the paper's split.

Layout (the Kaggle archive, unpacked)::

    ROOT/dfdc_train_part_0/metadata.json   # {"abc.mp4": {"label": "FAKE", "original": "x.mp4"}}
    ROOT/dfdc_train_part_0/abc.mp4
    ...
    ROOT/dfdc_train_part_49/...

Split (the paper's ``dfdc-35-5-10``): parts 0-34 train, 35-39 validation, 40-49 test.
Each fake names its original in ``metadata.json``; originals sit in the same part as
their fakes, so the split by part never separates them (checked).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_user_error
from datamodules.indexes.common import (
    DatasetLayoutError,
    finish_index,
    require_dir,
    write_index,
)

log = logging.getLogger(__name__)

_PART = re.compile(r"^dfdc_train_part_(\d+)$")
_LAYOUT_HINT = (
    "Expected the Kaggle DFDC layout: ROOT/dfdc_train_part_<N>/metadata.json with the part's "
    "mp4 files beside it."
)


def parse_parts(parts: Iterable[int] | str | int) -> list[int]:
    """Part numbers from a list, one number, or a string of ranges (``"0-34"``, ``"0-3,7"``)."""
    if isinstance(parts, int):
        return [parts]
    if not isinstance(parts, str):
        return [int(part) for part in parts]
    numbers: list[int] = []
    for chunk in filter(None, (c.strip() for c in parts.split(","))):
        first, _, last = chunk.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"DFDC parts {parts!r}: expected numbers or ranges like 0-34.")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def _parts(root: Path) -> dict[int, Path]:
    parts = {}
    for folder in root.iterdir():
        match = _PART.match(folder.name)
        if match and folder.is_dir():
            parts[int(match.group(1))] = folder
    return dict(sorted(parts.items()))


def _read_metadata(folder: Path) -> dict[str, dict]:
    file = folder / "metadata.json"
    if not file.is_file():
        raise DatasetLayoutError(f"{file} not found. {_LAYOUT_HINT}")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{file} is not valid JSON ({error}); download the part again.") from error


def dfdc_index(
    root: str | os.PathLike,
    train_parts: Iterable[int] | str = "0-34",
    val_parts: Iterable[int] | str = "35-39",
    test_parts: Iterable[int] | str = "40-49",
) -> pd.DataFrame:
    """Index the DFDC training parts found under ``root``.

    Args:
        root: the folder holding the ``dfdc_train_part_<N>`` folders.
        train_parts: part numbers for training (the paper: 0-34), as a list or a string
            of ranges (``"0-34"``, ``"0-3,7"``).
        val_parts: part numbers for validation (35-39).
        test_parts: part numbers for testing (40-49).

    Returns:
        The video index, with a ``part`` column; parts in none of the lists are left out.
        Videos listed in ``metadata.json`` but missing on disk are left out with a warning.

    Raises:
        DatasetLayoutError: the root holds no ``dfdc_train_part_<N>`` folder or a part
            lacks its ``metadata.json``.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "DFDC root", _LAYOUT_HINT)
    split_of = {}
    for split, numbers in (("train", train_parts), ("val", val_parts), ("test", test_parts)):
        for number in parse_parts(numbers):
            if number in split_of:
                raise ValueError(
                    f"DFDC part {number} is given to both {split_of[number]} and {split}."
                )
            split_of[int(number)] = split
    parts = _parts(root)
    if not parts:
        raise DatasetLayoutError(f"No dfdc_train_part_<N> folder in {root}. {_LAYOUT_HINT}")
    rows, missing = [], []
    for number, folder in parts.items():
        if number not in split_of:
            log.info("DFDC part %d is in no split; left out.", number)
            continue
        for name, entry in _read_metadata(folder).items():
            path = folder / name
            if not path.is_file():
                missing.append(str(path))
                continue
            label = str(entry.get("label", "")).upper()
            if label not in ("REAL", "FAKE"):
                raise ValueError(
                    f"{folder / 'metadata.json'}: {name} has label {label!r}, not REAL/FAKE."
                )
            original = entry.get("original") if label == "FAKE" else None
            rows.append(
                {
                    "video": f"{folder.name}/{Path(name).stem}",
                    "path": str(path),
                    "label": int(label == "FAKE"),
                    "original_name": Path(original).stem if original else "",
                    "split": split_of[number],
                    "part": number,
                }
            )
    if missing:
        log.warning(
            "DFDC: %d videos listed in metadata.json are not on disk (e.g. %s); left out.",
            len(missing),
            missing[0],
        )
    if not rows:
        raise DatasetLayoutError(f"No DFDC video of the chosen parts found under {root}.")
    table = pd.DataFrame(rows)
    by_name = dict(zip(table["video"].str.split("/").str[-1], table["video"], strict=True))
    same_part = table["video"].str.split("/").str[0] + "/" + table["original_name"]
    table["original"] = [
        "" if not name else by_name.get(name, fallback)
        for name, fallback in zip(table["original_name"], same_part, strict=True)
    ]
    table["method"] = table["label"].map({0: "original", 1: "unknown"})
    return finish_index(table.drop(columns="original_name"), "dfdc")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="index/dfdc")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m datamodules.indexes.dfdc root=DIR output=FILE.csv [option=value ...]``."""
    write_index(dfdc_index, cfg)


if __name__ == "__main__":
    main()
