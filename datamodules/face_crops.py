"""The face crops of one split as a dataset: reading, augmenting, substituting unreadable ones.

:class:`datamodules.faces.FaceDataModule` builds one per split from the joined index and
faces tables; an int index gives one face (binary training and evaluation), a 3-tuple a
triplet (siamese training). Training replaces an unreadable crop by another of the same
class, so batches stay full and balanced; evaluation leaves it out. Either way the crop
is named in the batch's ``skipped`` list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info

from datamodules.skipped import SKIPPED_KEY, collate_with_skipped, warn_skip

_MAX_SUBSTITUTIONS = 20


def read_crop(path: Path) -> np.ndarray | None:
    """A crop as uint8 RGB, or None when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class CropRows(Dataset):
    """The face crops of a table (``video, path, frame, face_rank``), read through a transform.

    What the detector's crops (:class:`FaceCropDataset`) and the self-blended ones
    (:mod:`datamodules.self_blended`) share.

    Args:
        table: one row per crop, ``path`` relative to ``faces_dir``.
        faces_dir: the extraction folder.
        transform: the albumentations pipeline giving the image tensor.
        rank: the process rank, mixed into the augmentation seed under DDP.
    """

    def __init__(self, table: pd.DataFrame, faces_dir: Path, transform: Any, rank: int = 0) -> None:
        # Numpy arrays, not lists of Python objects: worker processes then share
        # the pages instead of copying them on every reference count change.
        self.videos = table["video"].to_numpy(dtype=str)
        self.paths = table["path"].to_numpy(dtype=str)
        self.frames = table["frame"].to_numpy(dtype=np.int64)
        self.face_ranks = table["face_rank"].to_numpy(dtype=np.int64)
        self.faces_dir = Path(faces_dir)
        self.transform = transform
        self.rank = rank

    def __len__(self) -> int:
        return len(self.paths)

    def crop_path(self, index: int) -> Path:
        """The file of crop ``index``."""
        return self.faces_dir / self.paths[index]


class FaceCropDataset(CropRows):
    """The face crops of one split; an int index gives a face, a 3-tuple a triplet.

    Args:
        table: one row per crop with ``video``, ``frame``, ``face_rank``,
            ``path`` (relative to ``faces_dir``) and ``label``.
        faces_dir: the extraction folder.
        transform: the albumentations pipeline giving the image tensor.
        substitute_unreadable: replace an unreadable crop by a random crop of
            the same class (training: batches stay full and balanced) instead
            of leaving it out (evaluation: every crop counts once).
        rank: the process rank, mixed into the augmentation seed under DDP.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        faces_dir: Path,
        transform: A.BasicTransform,
        substitute_unreadable: bool = False,
        rank: int = 0,
    ) -> None:
        super().__init__(table, faces_dir, transform, rank)
        self.labels = table["label"].to_numpy(dtype=np.int64)
        self.substitute_unreadable = substitute_unreadable
        self._by_label = {label: np.flatnonzero(self.labels == label) for label in (0, 1)}
        self.reseed(int(torch.empty((), dtype=torch.int64).random_().item()))

    def reseed(self, seed: int) -> None:
        """Seed the augmentation and the substitution draws (per worker and process)."""
        state = np.random.SeedSequence([seed % 2**63, self.rank]).generate_state(2)
        self.rng = np.random.default_rng(state[0])
        self.transform.set_random_seed(int(state[1]))

    def _image(self, index: int) -> torch.Tensor:
        path = self.crop_path(index)
        image = read_crop(path)
        if image is None:
            raise _UnreadableCrop(path)
        return self.transform(image=image)["image"]

    def _image_or_substitute(self, index: int, skipped: list[str]) -> tuple[torch.Tensor, int]:
        for _ in range(_MAX_SUBSTITUTIONS):
            try:
                return self._image(index), index
            except _UnreadableCrop as error:
                skipped.append(warn_skip(error.path, "unreadable or empty face crop"))
                index = int(self.rng.choice(self._by_label[int(self.labels[index])]))
        raise RuntimeError(
            f"{_MAX_SUBSTITUTIONS} face crops in a row were unreadable (the last: "
            f"{skipped[-1]}); the faces folder looks broken, see the warnings above."
        )

    def __getitem__(self, index: int | Sequence[int]) -> dict[str, Any]:
        if not isinstance(index, int | np.integer):
            return self._triplet(index)
        skipped: list[str] = []
        if self.substitute_unreadable:
            image, index = self._image_or_substitute(int(index), skipped)
        else:
            try:
                image = self._image(index)
            except _UnreadableCrop as error:
                return {SKIPPED_KEY: [warn_skip(error.path, "unreadable or empty face crop")]}
        return {
            "image": image,
            "label": torch.tensor(self.labels[index], dtype=torch.float32),
            "video": str(self.videos[index]),
            "frame": int(self.frames[index]),
            "face_rank": int(self.face_ranks[index]),
            SKIPPED_KEY: skipped,
        }

    def _triplet(self, indices: Sequence[int]) -> dict[str, Any]:
        skipped: list[str] = []
        images = {}
        for role, index in zip(("anchor", "positive", "negative"), indices, strict=True):
            images[role], _ = self._image_or_substitute(int(index), skipped)
        return {
            **images,
            "anchor_label": torch.tensor(self.labels[indices[0]], dtype=torch.float32),
            "negative_label": torch.tensor(self.labels[indices[2]], dtype=torch.float32),
            SKIPPED_KEY: skipped,
        }


class _UnreadableCrop(Exception):
    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def collate_faces(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``collate_with_skipped``, plus samples that are only a skip message (left-out crops)."""
    left_out = [message for s in samples if set(s) == {SKIPPED_KEY} for message in s[SKIPPED_KEY]]
    batch = collate_with_skipped([s for s in samples if set(s) != {SKIPPED_KEY}])
    batch[SKIPPED_KEY] = left_out + batch[SKIPPED_KEY]
    return batch


def seed_worker(worker_id: int) -> None:
    """Give each worker (of each epoch and process) its own augmentation stream."""
    info = get_worker_info()
    info.dataset.reseed(info.seed)
