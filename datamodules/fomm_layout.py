"""Find the videos of a FOMM dataset on disk and split them into train and test.

The official layout: ``root/train/`` and ``root/test/`` with one item per video
(an mp4/mov/gif file, a png/jpg strip, or a folder of frames); or the items
directly in ``root`` and a seeded random split. Names ``ID#rest`` tie a video to
an identity (a person, a YouTube source video): with ``id_sampling`` an epoch
walks identities instead of videos, so identities with many clips do not
dominate, and a random split keeps all clips of an identity on one side.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datamodules.video_io import VIDEO_EXTENSIONS, video_kind

log = logging.getLogger(__name__)

LAYOUT_HELP = (
    "Expected a FOMM dataset: either sub-folders train/ and test/, or the videos directly "
    "in the folder (then a seeded random split is made). A video is a "
    f"{'/'.join(VIDEO_EXTENSIONS)} or .gif file, a .png/.jpg strip with the frames side by "
    "side (each frame of size frame_shape), or a folder of .png/.jpg frames. Name videos "
    "ID#rest (e.g. id10001#clip3.mp4) to group them by identity for id_sampling."
)


@dataclass(frozen=True)
class VideoItem:
    """One video of a dataset.

    Attributes:
        path: the file or frame folder.
        name: the file name without extension (the folder name for frame folders);
            what batches carry as ``name``.
        identity: the part of the name before the first ``#``, or the whole name.
    """

    path: Path
    name: str
    identity: str


def identity_of(name: str) -> str:
    """The identity of a video named ``ID#rest`` (the whole name when there is no ``#``)."""
    return name.split("#", 1)[0]


def list_video_items(folder: Path) -> list[VideoItem]:
    """Every video item directly inside ``folder``, sorted by name."""
    items = []
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if video_kind(path) is None:
            continue
        name = path.name if path.is_dir() else path.stem
        items.append(VideoItem(path=path, name=name, identity=identity_of(name)))
    return items


def _describe_contents(folder: Path, limit: int = 8) -> str:
    entries = sorted(os.listdir(folder))
    if not entries:
        return "it is empty"
    shown = ", ".join(entries[:limit]) + (", ..." if len(entries) > limit else "")
    return f"it holds {len(entries)} entries, none a video ({shown})"


def discover_splits(
    root: str | os.PathLike,
    id_sampling: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Return the train and test videos of the dataset at ``root``.

    Args:
        root: the dataset folder.
        id_sampling: split a layout without ``train/``/``test/`` by identity, not by video.
        test_fraction: share of videos (identities) held out by a random split.
        seed: seed of the random split.

    Raises:
        FileNotFoundError: ``root`` (or its ``test/`` next to ``train/``) does not exist.
        ValueError: no videos were found.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset folder {root} does not exist. {LAYOUT_HELP}")
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir():
        if not test_dir.is_dir():
            raise FileNotFoundError(
                f"{root} has train/ but no test/ folder. {LAYOUT_HELP} "
                "Create test/ (it may share videos with train/) or remove train/."
            )
        train, test = list_video_items(train_dir), list_video_items(test_dir)
        if not train:
            raise ValueError(
                f"No videos in {train_dir}: {_describe_contents(train_dir)}. {LAYOUT_HELP}"
            )
        if not test:
            log.warning("No videos in %s: validation and test will be empty", test_dir)
        log.info("%s: predefined split, %d train and %d test videos", root, len(train), len(test))
        return train, test
    items = list_video_items(root)
    if not items:
        raise ValueError(f"No videos in {root}: {_describe_contents(root)}. {LAYOUT_HELP}")
    train, test = random_split(items, id_sampling, test_fraction, seed)
    log.info(
        "%s: no train/ and test/ folders, random split (seed %d): %d train and %d test videos",
        root,
        seed,
        len(train),
        len(test),
    )
    return train, test


def random_split(
    items: list[VideoItem], by_identity: bool, test_fraction: float, seed: int
) -> tuple[list[VideoItem], list[VideoItem]]:
    """Split videos (or whole identities) at random, reproducibly for a given seed."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction} must be in [0, 1)")
    keys = sorted({item.identity if by_identity else item.name for item in items})
    num_test = int(round(test_fraction * len(keys))) if len(keys) > 1 else 0
    if test_fraction > 0 and len(keys) > 1:
        num_test = min(max(num_test, 1), len(keys) - 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    test_keys = {keys[i] for i in order[:num_test]}
    in_test = [(item.identity if by_identity else item.name) in test_keys for item in items]
    train = [item for item, held in zip(items, in_test, strict=True) if not held]
    test = [item for item, held in zip(items, in_test, strict=True) if held]
    return train, test


def group_by_identity(items: list[VideoItem]) -> list[list[int]]:
    """Indices of ``items`` grouped by identity, identities in sorted order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item.identity].append(index)
    return [groups[identity] for identity in sorted(groups)]
