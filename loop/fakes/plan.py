"""Planning a FOMM deepfake dataset: the real videos, the identity split, the video pairs.

Nothing here runs a network or writes a video; :mod:`loop.fakes` renders the plan. The
plan is a pure function of the input list, the usable inputs and the settings, so a
rerun plans the same files and skips those already written.

Split rule: identities (``ID`` of ``ID#rest`` names, :func:`datamodules.fomm_layout.identity_of`)
are assigned to train/val/test as whole people, and a fake's source and driving identities
are always taken from one split. So no person's appearance or motion crosses splits: a
detector tested on the test split has never seen those faces, real or reenacted.
"""

from __future__ import annotations

import logging
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datamodules.command_errors import InputError
from datamodules.fomm_layout import LAYOUT_HELP, identity_of, list_video_items, split_folders
from datamodules.video_list import list_videos

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
LABEL_COLUMNS = [
    "video",
    "path",
    "label",
    "original",
    "split",
    "method",
    "source_identity",
    "driving_video",
    "driving_identity",
]


@dataclass(frozen=True)
class InputVideo:
    """One real input video.

    Attributes:
        key: its id among the inputs (the file name without extension, or a CSV's ``video``).
        path: the file (or frame folder).
        identity: the person (``ID`` of ``ID#rest``, a CSV's ``identity``, else the key).
    """

    key: str
    path: Path
    identity: str


@dataclass(frozen=True)
class Job:
    """One output video: a re-encoded real video (``driving`` None) or a fake.

    Attributes:
        video: its id in the dataset, the path relative to the output without ``.mp4``.
        split: ``train``, ``val`` or ``test``.
        source: the real video (a real's frames; a fake's identity, from one frame).
        driving: the video whose motion, frame count, frame rate and audio a fake takes.
    """

    video: str
    split: str
    source: InputVideo
    driving: InputVideo | None = None

    @property
    def label(self) -> int:
        """1 for a fake, 0 for a real video."""
        return int(self.driving is not None)

    @property
    def relative_path(self) -> str:
        """The mp4, relative to the output folder."""
        return f"{self.video}.mp4"

    def row(self) -> dict[str, Any]:
        """The row of ``labels.csv``."""
        fake = self.driving is not None
        return {
            "video": self.video,
            "path": self.relative_path,
            "label": self.label,
            "original": real_video_id(self.split, self.source) if fake else "",
            "split": self.split,
            "method": "fomm" if fake else "real",
            "source_identity": self.source.identity,
            "driving_video": real_video_id(self.split, self.driving) if fake else "",
            "driving_identity": self.driving.identity if fake else "",
        }


def real_video_id(split: str, item: InputVideo) -> str:
    """The dataset id of a real input's re-encoded copy."""
    return f"real/{split}/{item.key}"


def input_key_of(real_video: str) -> str:
    """The input key of a real video's dataset id: the inverse of :func:`real_video_id`."""
    return real_video.split("/", 2)[2]


def _from_folder(root: Path) -> list[InputVideo]:
    try:
        folders = list(split_folders(root).values()) or [root]
    except ValueError as error:
        raise InputError(f"videos={root}: {error}") from error
    found: dict[str, InputVideo] = {}
    for folder in folders:
        for item in list_video_items(folder):
            if item.name in found:
                log.warning("%s repeats %s; using the first", item.path, found[item.name].path)
                continue
            found[item.name] = InputVideo(item.name, item.path, item.identity)
    return list(found.values())


def _from_csv(path: Path) -> list[InputVideo]:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "label" in table:
        real = table["label"].str.strip().str.lower().isin(["0", "0.0", "real"])
        table = table[real].reset_index(drop=True)
    try:
        listed = list_videos(table, root=path.parent)
    except ValueError as error:
        raise InputError(f"videos={path}: {error}") from error
    identities = table["identity"] if "identity" in table else listed["video"].map(identity_of)
    return [
        InputVideo(key, Path(file), str(identity) or identity_of(key))
        for key, file, identity in zip(listed["video"], listed["path"], identities, strict=True)
    ]


def list_input_videos(videos: str | os.PathLike) -> list[InputVideo]:
    """The real videos to build the dataset from, sorted by key.

    Args:
        videos: a FOMM dataset root (``train/``, ``val/`` and ``test/``, pooled: the split
            here is our own), a flat folder of videos, or a video index CSV (``path`` relative to
            the CSV; optional ``video`` id, ``identity``, and ``label``, of which only
            real rows are used).

    Raises:
        InputError: the path is missing or holds no video.
    """
    if videos in (None, "", "null"):
        raise InputError("no videos given; pass videos=PATH (a FOMM dataset folder or a CSV)")
    root = Path(str(videos)).expanduser()
    if not root.exists():
        raise InputError(
            f"videos={root} does not exist; pass a FOMM dataset folder, a folder of videos or "
            "a video index CSV (the embedded talking heads appear in <data_dir>/embedded after "
            "one `python train.py` run)"
        )
    if root.is_dir():
        items = _from_folder(root)
    elif root.suffix.lower() == ".csv":
        items = _from_csv(root)
    else:
        raise InputError(f"videos={root} is neither a folder nor a .csv video index")
    if not items:
        raise InputError(f"videos={root} holds no real videos. {LAYOUT_HELP}")
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise InputError(f"videos={root}: video ids repeat; give each video its own name")
    return sorted(items, key=lambda item: item.key)


def check_fractions(fractions: dict[str, float] | None) -> dict[str, float]:
    """Normalise ``split_fractions`` to sum 1, with every split named.

    Raises:
        InputError: an unknown split, a negative fraction, or nothing in train.
    """
    fractions = dict(DEFAULT_SPLIT_FRACTIONS if fractions is None else fractions)
    unknown = sorted(set(fractions) - set(SPLITS))
    if unknown:
        raise InputError(f"split_fractions: unknown split(s) {unknown}; use {', '.join(SPLITS)}")
    values = {split: float(fractions.get(split, 0.0)) for split in SPLITS}
    if any(value < 0 for value in values.values()) or values["train"] <= 0:
        raise InputError(f"split_fractions={values}: fractions must be >= 0, train > 0")
    total = sum(values.values())
    return {split: value / total for split, value in values.items()}


def split_sizes(num_identities: int, fractions: dict[str, float]) -> dict[str, int]:
    """Identities per split: the fractions' shares, at least 2 in every split used.

    Why 2: a fake needs a driving identity other than its source's in the same split.

    Raises:
        InputError: too few identities for the splits asked for.
    """
    used = [split for split in SPLITS if fractions[split] > 0]
    if num_identities < 2 * len(used):
        raise InputError(
            f"{num_identities} identities cannot give each of the splits {', '.join(used)} "
            "at least 2 identities (a fake's driving identity must differ from its source's "
            f"and share its split); add videos of more people ({2 * len(used)} needed) or "
            "set a split's fraction to 0 (e.g. split_fractions.val=0)"
        )
    shares = {split: fractions[split] * num_identities for split in SPLITS}
    sizes = {split: math.floor(share) for split, share in shares.items()}
    by_remainder = sorted(SPLITS, key=lambda split: sizes[split] - shares[split])
    for split in by_remainder[: num_identities - sum(sizes.values())]:
        sizes[split] += 1
    for split in used:
        while sizes[split] < 2:
            donors = [other for other in used if sizes[other] > 2]
            donor = max(donors, key=lambda other: sizes[other] - shares[other])
            sizes[donor] -= 1
            sizes[split] += 1
    return sizes


def split_identities(
    identities: list[str], fractions: dict[str, float], seed: int
) -> dict[str, str]:
    """Assign whole identities to splits: a seeded shuffle cut by :func:`split_sizes`."""
    unique = sorted(set(identities))
    sizes = split_sizes(len(unique), fractions)
    order = np.random.default_rng(seed).permutation(len(unique))
    assignment, start = {}, 0
    for split in SPLITS:
        for position in order[start : start + sizes[split]]:
            assignment[unique[position]] = split
        start += sizes[split]
    return assignment


def _flat(key: str) -> str:
    return key.replace("/", "+")


def plan_jobs(
    usable: list[InputVideo],
    splits: dict[str, str],
    fakes_per_video: int,
    seed: int,
) -> tuple[list[Job], list[str]]:
    """The real and fake videos to write.

    Every usable input becomes a real video of its identity's split and the source of
    ``fakes_per_video`` fakes, each driven by a seeded pick among the same split's
    videos of other identities (distinct drivers while there are enough). The pick
    depends on the seed, the source's key and the candidates, not on the input order.

    Returns:
        The jobs (each real followed by its fakes), and the sources left without a
        fake because their split holds no usable video of another identity.
    """
    usable = sorted(usable, key=lambda item: item.key)
    jobs, unpaired = [], []
    for source in usable:
        split = splits[source.identity]
        jobs.append(Job(real_video_id(split, source), split, source))
        candidates = [
            other
            for other in usable
            if splits[other.identity] == split and other.identity != source.identity
        ]
        if not candidates:
            unpaired.append(source.key)
            continue
        rng = np.random.default_rng([seed, zlib.crc32(source.key.encode())])
        picks = list(rng.permutation(len(candidates)))
        while len(picks) < fakes_per_video:
            picks += list(rng.permutation(len(candidates)))
        for number, pick in enumerate(picks[:fakes_per_video]):
            driving = candidates[pick]
            name = f"fake/{split}/{source.key}__{_flat(driving.key)}"
            if number >= len(candidates):
                name += f"_{number}"
            jobs.append(Job(name, split, source, driving))
    return jobs, unpaired
