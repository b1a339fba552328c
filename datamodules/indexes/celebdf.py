"""Celeb-DF (v2) video index: the official test list, and a train/val split by identity.

Layout (the dataset archive)::

    ROOT/Celeb-real/id0_0000.mp4             # real: celebrity id0, clip 0000
    ROOT/YouTube-real/00000.mp4              # real: other YouTube videos
    ROOT/Celeb-synthesis/id0_id16_0000.mp4   # fake: id16's face on Celeb-real/id0_0000
    ROOT/List_of_testing_videos.txt          # "1 YouTube-real/00170.mp4" per line

The test list marks real videos with 1 and fakes with 0 (the reverse of our 1 = fake);
the builder converts and checks that the list agrees with the folders. Its 518 videos are
the test split. The rest is split into train and val at random (seeded) by identity: all
videos of a celebrity (real ones and the fakes made from them) fall on one side; each
YouTube-real video is its own group. The official test list itself shares identities
with the other videos (a property of the official protocol).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from datamodules.indexes.common import (
    DatasetLayoutError,
    finish_index,
    group_split,
    require_dir,
    run_cli,
    video_files,
    video_id,
)

log = logging.getLogger(__name__)

FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}
TEST_LIST = "List_of_testing_videos.txt"
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
    root: str | os.PathLike, val_fraction: float = 0.1, seed: int = 0
) -> pd.DataFrame:
    """Index Celeb-DF v2.

    Args:
        root: the dataset root.
        val_fraction: fraction of the identities (outside the test list) for validation.
        seed: seed of the train/val draw.

    Returns:
        The video index; ``source_identity`` is the identity whose face a fake shows.

    Raises:
        DatasetLayoutError: a folder or the test list is missing.
        ValueError: the test list disagrees with the folders about a label.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "Celeb-DF root", _LAYOUT_HINT)
    test_file = root / TEST_LIST
    if not test_file.is_file():
        raise DatasetLayoutError(
            f"{test_file} not found; it defines the test split. {_LAYOUT_HINT}"
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
                    original=f"Celeb-real/{target}_{clip}", source_identity=source, group=target
                )
            elif folder == "Celeb-real":
                row["group"] = parts[0]
            else:
                row["group"] = f"youtube/{path.stem}"
            rows.append(row)
    table = pd.DataFrame(rows)
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
    is_test = listed.notna()
    split = pd.Series("test", index=table.index)
    split[~is_test] = group_split(
        table.loc[~is_test, "group"], {"train": 1 - val_fraction, "val": val_fraction}, seed
    )
    table["split"] = split
    return finish_index(table.drop(columns="group"), "celebdf", check_crossing=False)


if __name__ == "__main__":
    run_cli(celebdf_index)
