"""Celeb-DF (v2) video index, split by identity (or by the official test list).

Layout (the dataset archive)::

    ROOT/Celeb-real/id0_0000.mp4             # real: celebrity id0, clip 0000
    ROOT/YouTube-real/00000.mp4              # real: other YouTube videos
    ROOT/Celeb-synthesis/id0_id16_0000.mp4   # fake: id16's face on Celeb-real/id0_0000
    ROOT/List_of_testing_videos.txt          # "1 YouTube-real/00170.mp4" per line

The test list marks real videos with 1 and fakes with 0 (the reverse of our 1 = fake);
the builder converts and checks that the list agrees with the folders.

Splits (``split``):

- ``identities`` (the default): every person (a celebrity; each YouTube-real video is its
  own person) is assigned to train, val or test as a whole, seeded. A fake shows two
  people (its original's and its face donor's); one whose two people fell in different
  splits is left out (with a warning), since either split would then show a person of
  the other. No person, original or fake crosses splits.
- ``official``: the 518 videos of the test list are the test split, and the rest is split
  into train and val by identity as above. The official list shares people, and even
  originals, with the other videos: a protocol for comparing with published numbers, not
  a held-out test (the builder warns with the counts).
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
    require_dir,
    video_files,
    video_id,
    write_index,
)

log = logging.getLogger(__name__)

FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
TEST_LIST = "List_of_testing_videos.txt"
SPLIT_RULES = ("identities", "official")
_LAYOUT_HINT = (
    "Expected the Celeb-DF v2 layout: ROOT/Celeb-real, ROOT/YouTube-real, ROOT/Celeb-synthesis "
    f"and ROOT/{TEST_LIST}."
)


def read_test_list(file: Path) -> dict[str, int]:
    """Map each listed video (``Celeb-real/id0_0000``) to its label in OUR convention (1 = fake)."""
    labels = {}
    for number, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        flag, _, path = line.strip().partition(" ")
        if flag not in ("0", "1") or not path:
            raise ValueError(
                f"{file}:{number}: expected '<1 real|0 fake> <folder>/<file>.mp4', got {line!r}"
            )
        labels[Path(path.strip()).with_suffix("").as_posix()] = 1 - int(flag)
    return labels


def celebdf_index(
    root: str | os.PathLike,
    split: str = "identities",
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """Index Celeb-DF v2.

    Args:
        root: the dataset root.
        split: ``identities`` (a seeded split of the people) or ``official`` (the test list
            as test, which shares people with the rest).
        val_fraction: fraction of the people for validation (of those outside the test
            list with ``official``).
        test_fraction: fraction of the people for test (``identities`` only).
        seed: seed of the draw.

    Returns:
        The video index; ``identity`` is the person of the video (of its original for a
        fake) and ``source_identity`` the person whose face a fake shows.

    Raises:
        DatasetLayoutError: a folder or the test list is missing.
        ValueError: the test list disagrees with the folders about a label, or an unknown
            ``split``.
    """
    if split not in SPLIT_RULES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_RULES)}, got {split!r}")
    root = Path(root).expanduser().resolve()
    require_dir(root, "Celeb-DF root", _LAYOUT_HINT)
    test_file = root / TEST_LIST
    if not test_file.is_file():
        raise DatasetLayoutError(
            f"{test_file} not found; it holds the test labels (and, with split=official, the "
            f"test split). {_LAYOUT_HINT}"
        )
    test_labels = read_test_list(test_file)
    rows = []
    for folder, label in FOLDERS.items():
        for path in video_files(require_dir(root / folder, f"Celeb-DF {folder}", _LAYOUT_HINT)):
            vid = video_id(path, root)
            row = {"video": vid, "path": str(path), "label": label, "method": folder}
            parts = path.stem.split("_")
            if folder == "Celeb-synthesis":
                if len(parts) != 3:
                    raise ValueError(f"{path}: expected a name <target>_<source>_<clip>.mp4.")
                target, source, clip = parts
                row.update(
                    original=f"Celeb-real/{target}_{clip}", source_identity=source, identity=target
                )
            elif folder == "Celeb-real":
                row["identity"] = parts[0]
            else:
                row["identity"] = f"youtube/{path.stem}"
            rows.append(row)
    table = pd.DataFrame(rows)
    table["source_identity"] = (
        table["source_identity"].fillna("") if "source_identity" in table else ""
    )
    listed = table["video"].map(test_labels)
    disagree = table[listed.notna() & (listed != table["label"])]
    if len(disagree):
        raise ValueError(
            f"{test_file} labels {len(disagree)} videos against their folder "
            f"(e.g. {disagree['video'].iloc[0]}); is it the Celeb-DF v2 list?"
        )
    absent = sorted(set(test_labels) - set(table["video"]))
    if absent:
        log.warning("Celeb-DF: %d test videos are not on disk (e.g. %s).", len(absent), absent[0])
    if split == "identities":
        fractions = {"train": 1 - val_fraction - test_fraction, "val": val_fraction}
        table["split"] = identity_split(
            table["identity"], [table["source_identity"]], fractions | {"test": test_fraction}, seed
        )
    else:
        is_test = listed.notna()
        rest = table[~is_test]
        table["split"] = "test"
        table.loc[~is_test, "split"] = identity_split(
            rest["identity"],
            [rest["source_identity"]],
            {"train": 1 - val_fraction, "val": val_fraction},
            seed,
        )
    log_left_out(
        "celebdf",
        table[table["split"].isna()],
        "fakes whose two people (original and face donor) fell in different splits",
    )
    table = table.dropna(subset=["split"])
    return finish_index(table, "celebdf", leaks="warn" if split == "official" else "raise")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="index/celebdf")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m datamodules.indexes.celebdf root=DIR output=FILE.csv [option=value ...]``."""
    write_index(celebdf_index, cfg)


if __name__ == "__main__":
    main()
