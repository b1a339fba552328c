"""Find the videos of a FOMM dataset on disk and split them into train, validation and test.

The official layout: ``root/train/`` and ``root/test/`` with one item per video
(an mp4/mov/gif file, a png/jpg strip, or a folder of frames), optionally
``root/val/``; or the items directly in ``root`` and a seeded random split. Names
``ID#rest`` tie a video to an identity (a person, a YouTube source video): with
``id_sampling`` an epoch walks identities instead of videos, so identities with many
clips do not dominate, and every split keeps all clips of an identity on one side.

Validation is never taken from the test videos: without a ``val/`` folder it is held
out of the training videos (whole identities with ``id_sampling``), so the checkpoint
chosen on it has been selected without looking at the numbers it reports.
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

VAL_FOLDERS = ("val", "validation")
LAYOUT_HELP = (
    "Expected a FOMM dataset: either sub-folders train/ and test/ (and optionally val/), or "
    "the videos directly in the folder (then a seeded random split is made). A video is a "
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


@dataclass(frozen=True)
class FOMMSplits:
    """The train, validation and test videos of a FOMM dataset.

    Attributes:
        train: the training videos, without the ones held out for validation.
        val: the validation videos, never taken from ``test``.
        test: the test videos.
        val_rule: where ``val`` came from, in words (for the logs).
        val_problem: why ``val`` is empty, with the numbers and the fix; None when it is not.
            Not raised here: a test-only run needs no validation set.
    """

    train: list[VideoItem]
    val: list[VideoItem]
    test: list[VideoItem]
    val_rule: str
    val_problem: str | None = None


def split_folders(root: str | os.PathLike) -> dict[str, Path]:
    """The split sub-folders of ``root`` that exist: ``train``, ``val`` and ``test`` keys.

    ``validation/`` is accepted for ``val/``.

    Raises:
        ValueError: both ``val/`` and ``validation/`` exist.
    """
    root = Path(root)
    found = {split: root / split for split in ("train", "test") if (root / split).is_dir()}
    val_dirs = [root / name for name in VAL_FOLDERS if (root / name).is_dir()]
    if len(val_dirs) > 1:
        raise ValueError(
            f"{root} has both val/ and validation/: keep one of them as the validation split"
        )
    if val_dirs:
        found["val"] = val_dirs[0]
    return found


def discover_splits(
    root: str | os.PathLike,
    id_sampling: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    val_identities: int = 8,
    val_videos: int = 8,
) -> FOMMSplits:
    """Return the train, validation and test videos of the dataset at ``root``.

    Validation never comes from the test videos:

    - ``train/``, ``val/`` (or ``validation/``) and ``test/``: the folders as they are.
    - ``train/`` and ``test/`` only (the official datasets): ``val_identities`` whole
      identities (with ``id_sampling``) or ``val_videos`` videos (without) are held out of
      ``train/``, drawn by :func:`hold_out` with ``seed``.
    - the videos directly in ``root``: a seeded random split holds out ``test_fraction``
      for test (:func:`random_split`), then validation is held out of the rest the same way.

    Args:
        root: the dataset folder.
        id_sampling: split by identity (``ID#rest`` names), not by video.
        test_fraction: share of videos (identities) held out for test by a random split.
        seed: seed of the random split and of the validation hold-out.
        val_identities: identities held out of training for validation (with ``id_sampling``).
        val_videos: videos held out of training for validation (without ``id_sampling``).

    Raises:
        FileNotFoundError: ``root`` (or its ``test/`` next to ``train/``) does not exist.
        ValueError: no videos were found, or a ``val/`` folder shares videos with ``test/``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset folder {root} does not exist. {LAYOUT_HELP}")
    folders = split_folders(root)
    count, unit = (val_identities, "identities") if id_sampling else (val_videos, "videos")
    if "train" in folders:
        if "test" not in folders:
            raise FileNotFoundError(
                f"{root} has train/ but no test/ folder. {LAYOUT_HELP} "
                "Create test/ (it may share videos with train/) or remove train/."
            )
        train, test = list_video_items(folders["train"]), list_video_items(folders["test"])
        if not train:
            raise ValueError(
                f"No videos in {folders['train']}: {_describe_contents(folders['train'])}. "
                f"{LAYOUT_HELP}"
            )
        if not test:
            log.warning("No videos in %s: the test set will be empty", folders["test"])
        if "val" in folders:
            splits = _given_val(folders["val"], train, test, id_sampling)
        else:
            train, val, problem = hold_out(train, id_sampling, count, seed, folders["train"])
            rule = f"{len(val)} {unit} held out of train/ (seed {seed})"
            splits = FOMMSplits(train, val, test, rule, problem)
    else:
        items = list_video_items(root)
        if not items:
            raise ValueError(f"No videos in {root}: {_describe_contents(root)}. {LAYOUT_HELP}")
        rest, test = random_split(items, id_sampling, test_fraction, seed)
        train, val, problem = hold_out(rest, id_sampling, count, seed, root)
        rule = f"random split (seed {seed}); {len(val)} {unit} held out of its training part"
        splits = FOMMSplits(train, val, test, rule, problem)
    log.info(
        "%s: %d train, %d validation (%s) and %d test videos",
        root,
        len(splits.train),
        len(splits.val),
        splits.val_rule,
        len(splits.test),
    )
    return splits


def _given_val(
    val_dir: Path, train: list[VideoItem], test: list[VideoItem], id_sampling: bool
) -> FOMMSplits:
    """The predefined validation folder, refused when it shares videos with test."""
    val = list_video_items(val_dir)
    shared = sorted({item.name for item in val} & {item.name for item in test})
    if shared:
        raise ValueError(
            f"{val_dir} and the test folder share {len(shared)} videos (e.g. {shared[0]}): "
            "validation must never see test videos; remove them from one of the folders"
        )
    for other, where in ((train, "train/"), (test, "test/")):
        key = "identity" if id_sampling else "name"
        common = sorted({getattr(i, key) for i in val} & {getattr(i, key) for i in other})
        if common:
            log.warning(
                "%s shares %d %s with %s (e.g. %s): validation is not held out from it",
                val_dir,
                len(common),
                "identities" if id_sampling else "videos",
                where,
                common[0],
            )
    problem = None
    if not val:
        problem = (
            f"No videos in {val_dir}: {_describe_contents(val_dir)}. Add validation videos, "
            "or remove the folder to hold out training identities (videos) for validation"
        )
    return FOMMSplits(train, val, test, f"the {val_dir.name}/ folder", problem)


def hold_out(
    items: list[VideoItem], by_identity: bool, count: int | None, seed: int, where: Path
) -> tuple[list[VideoItem], list[VideoItem], str | None]:
    """Hold ``count`` whole identities (or videos) of ``items`` out for validation.

    The rule: the sorted identities (video names) are shuffled by
    ``numpy.random.default_rng([seed, 1])`` (a stream of its own, apart from the random test
    split's) and the first ``count`` go to validation. Every video of a held-out identity
    leaves training, so validation identities are never trained on.

    Returns:
        The videos kept for training, the held-out ones, and why nothing was held out
        (None when validation is not empty).
    """
    key_name, option = ("identity", "val_identities") if by_identity else ("name", "val_videos")
    unit = "identities" if by_identity else "videos"
    keys = sorted({getattr(item, key_name) for item in items})
    count = 0 if count is None else int(count)
    if count < 1:
        problem = (
            f"{option}={count} holds no training {unit} out for validation (of the "
            f"{len(keys)} in {where}); set data.{option} to 1 or more, add a val/ folder, "
            "or train without validation (trainer.limit_val_batches=0)"
        )
        return items, [], problem
    if count >= len(keys):
        fix = (
            f"set data.{option} to at most {len(keys) - 1}, or add a val/ folder"
            if len(keys) > 1
            else f"add training {unit}, or a val/ folder"
        )
        problem = (
            f"{option}={count} would hold out all {len(keys)} training {unit} of {where} for "
            f"validation and leave none to train on; {fix}"
        )
        return items, [], problem
    order = np.random.default_rng([seed, 1]).permutation(len(keys))
    held_keys = {keys[i] for i in order[:count]}
    held = [item for item in items if getattr(item, key_name) in held_keys]
    kept = [item for item in items if getattr(item, key_name) not in held_keys]
    return kept, held, None


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
