"""Tiny on-disk layouts of the detector datasets (empty files): what the index builders read."""

from __future__ import annotations

import json
from pathlib import Path

from datamodules.indexes.ffpp import PAPER_METHODS

FFPP_PAIRS = {
    "train": [["000", "001"], ["002", "003"], ["004", "005"]],
    "val": [["006", "007"]],
    "test": [["008", "009"]],
}
CELEBDF_TEST_LIST = [
    "1 Celeb-real/id0_0000.mp4",
    "1 YouTube-real/00001.mp4",
    "0 Celeb-synthesis/id0_id1_0000.mp4",
]


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_ffpp(
    root: Path,
    pairs: dict[str, list[list[str]]] = FFPP_PAIRS,
    compressions: tuple[str, ...] = ("c23", "c40"),
    methods: tuple[str, ...] = (*PAPER_METHODS, "FaceShifter"),
) -> Path:
    """Originals 000-..., both fakes of every pair per method, and the official split JSONs."""
    originals = sorted(o for split in pairs.values() for pair in split for o in pair)
    for compression in compressions:
        for original in originals:
            touch(root / f"original_sequences/youtube/{compression}/videos/{original}.mp4")
        for method in methods:
            folder = root / f"manipulated_sequences/{method}/{compression}/videos"
            for split in pairs.values():
                for a, b in split:
                    touch(folder / f"{a}_{b}.mp4")
                    touch(folder / f"{b}_{a}.mp4")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, listed in pairs.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(listed))
    return root


def write_celebdf(
    root: Path,
    identities: int = 8,
    clips: int = 2,
    youtube: int = 6,
    test_list: list[str] = CELEBDF_TEST_LIST,
    donor_offsets: tuple[int, ...] = (1,),
) -> Path:
    """Celebrities id0..: real clips, fakes ``id<k>_id<k+d>_<clip>`` (d in ``donor_offsets``,
    modulo the count) and YouTube-real videos."""
    for identity in range(identities):
        for clip in range(clips):
            touch(root / "Celeb-real" / f"id{identity}_{clip:04d}.mp4")
            for offset in donor_offsets:
                donor = (identity + offset) % identities
                touch(root / "Celeb-synthesis" / f"id{identity}_id{donor}_{clip:04d}.mp4")
    for number in range(youtube):
        touch(root / "YouTube-real" / f"{number:05d}.mp4")
    (root / "List_of_testing_videos.txt").write_text("\n".join(test_list) + "\n")
    return root


def write_dfdc_part(
    root: Path, number: int, originals: int = 2, fakes_per_original: int = 2, missing=()
) -> Path:
    """One ``dfdc_train_part_<number>`` with its metadata.json."""
    folder = root / f"dfdc_train_part_{number}"
    folder.mkdir(parents=True)
    metadata = {}
    for o in range(originals):
        real = f"r{number:02d}x{o}.mp4"
        metadata[real] = {"label": "REAL", "split": "train", "original": None}
        for f in range(fakes_per_original):
            metadata[f"f{number:02d}x{o}x{f}.mp4"] = {
                "label": "FAKE",
                "split": "train",
                "original": real,
            }
    for name in metadata:
        if name not in missing:
            (folder / name).write_bytes(b"")
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder
