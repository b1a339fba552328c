"""Self-blended face data: real crops and their self-blended versions, half and half.

With ``data.fakes=self_blended`` the face DataModule trains on the REAL crops of the
train split only (any index: FF++, DFDC, Celeb-DF, a folder, FOMM fakes' reals): each
training item is one real crop and its self-blended pseudo-fake (label 1), so every
batch is exactly half real, half their blends. The blending itself (the paper's
method) comes from the detector package through the config (``data.self_blend``,
``_target_: fakedetect.self_blend.SelfBlend``); the data layer only reads crops, finds
their landmarks (:mod:`datamodules.self_blend_landmarks`), seeds and batches.

Validation and test use the index's real and fake videos as before. A validation
split without fakes (an index of real videos only) is validated on its reals plus one
self-blend of each, seeded by the crop's position and ``seed``, so the validation
metric is defined and the same at every epoch; the blends' video ids end with
``/self_blended``.

Crops whose landmarks cannot be found (no face for the detector) are left out of
self-blending, counted and logged; an unreadable crop is replaced by another real
crop and named in the batch's ``skipped`` list, as in supervised training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch.utils.data import BatchSampler, Sampler

from datamodules.face_crops import CropRows, collate_faces, read_crop
from datamodules.pairs import sample_rng
from datamodules.self_blend_landmarks import (
    NONE,
    CropLandmarks,
    LandmarkDetector,
    resolve_crop_landmarks,
)
from datamodules.skipped import SKIPPED_KEY, warn_skip

log = logging.getLogger(__name__)

FAKES_CHOICES = ("index", "self_blended")
SELF_BLENDED_SUFFIX = "/self_blended"
_MAX_SUBSTITUTIONS = 20


class SelfBlender(Protocol):
    """What the data layer needs of the detector package's self-blend transform."""

    landmarks: LandmarkDetector | None

    def __call__(self, image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> Any:
        """A result with ``real`` and ``fake`` (uint8 RGB) and ``mask`` (float ``(H, W)``)."""


class _SelfBlendedCrops(CropRows):
    """Real crops with their landmarks and the transform that makes tensors of them."""

    def __init__(
        self,
        table: pd.DataFrame,
        faces_dir: Path,
        points: Sequence[np.ndarray],
        blender: SelfBlender,
        transform: Any,
        rank: int = 0,
    ) -> None:
        super().__init__(table, faces_dir, transform, rank)
        self.points = list(points)
        self.blender = blender
        self.reseed(int(torch.empty((), dtype=torch.int64).random_().item()))

    def reseed(self, seed: int) -> None:
        """Seed the augmentation (per worker and process; ``_seed_worker`` calls it)."""
        state = np.random.SeedSequence([seed % 2**63, self.rank]).generate_state(1)
        self.transform.set_random_seed(int(state[0]))

    def _blend(self, index: int, rng: np.random.Generator) -> Any:
        """Read crop ``index`` and self-blend it.

        Raises:
            _UnusableCrop: unreadable, or its landmarks give no mask.
        """
        path = self.crop_path(index)
        image = read_crop(path)
        if image is None:
            raise _UnusableCrop(path, "unreadable or empty face crop")
        try:
            return self.blender(image, self.points[index], rng)
        except ValueError as error:
            raise _UnusableCrop(path, f"no self-blend mask ({error})") from error

    def _sample(self, index: int, image: np.ndarray, label: int) -> dict[str, Any]:
        video = str(self.videos[index]) + (SELF_BLENDED_SUFFIX if label else "")
        return {
            "image": self.transform(image=image)["image"],
            "label": torch.tensor(float(label)),
            "video": video,
            "frame": int(self.frames[index]),
            "face_rank": int(self.face_ranks[index]),
            SKIPPED_KEY: [],
        }


class _UnusableCrop(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class SelfBlendedPairs(_SelfBlendedCrops):
    """Training: item ``i`` is real crop ``i`` and its self-blend, two samples (labels 0, 1).

    The real sample is the blend's target (perturbed in colour and sharpness half the
    time, as the paper does), so those changes alone never mean fake. The random draws
    come from :func:`datamodules.pairs.sample_rng` (seeded from torch, hence different
    in every worker and repeatable under ``seed_everything(workers=True)``). An
    unusable crop is replaced by another random real crop and named in ``skipped``.
    """

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> list[dict[str, Any]]:
        rng = sample_rng()
        skipped: list[str] = []
        for _ in range(_MAX_SUBSTITUTIONS):
            try:
                result = self._blend(int(index), rng)
                break
            except _UnusableCrop as error:
                skipped.append(warn_skip(error.path, error.reason))
                index = int(rng.integers(len(self)))
        else:
            raise RuntimeError(
                f"{_MAX_SUBSTITUTIONS} real crops in a row could not be self-blended (the "
                f"last: {skipped[-1]}); see the warnings above."
            )
        real = self._sample(int(index), result.real, 0)
        real[SKIPPED_KEY] = skipped
        return [real, self._sample(int(index), result.fake, 1)]


class SelfBlendedValidation(_SelfBlendedCrops):
    """Validation of an index without fake videos: every real crop, then one blend of each.

    Index ``i < n`` is real crop ``i`` as stored; ``n + i`` its self-blend drawn with
    ``numpy.random.default_rng([seed, i])``, the same at every epoch and in every
    process. Unusable crops are left out (named in ``skipped``), as evaluation does.

    Args:
        seed: the blends' seed.
        **kwargs: see :class:`_SelfBlendedCrops`.
    """

    def __init__(self, *args: Any, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed

    def __len__(self) -> int:
        return 2 * len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        crop = int(index) % len(self.paths)
        if index < len(self.paths):
            path = self.crop_path(crop)
            image = read_crop(path)
            if image is None:
                return {SKIPPED_KEY: [warn_skip(path, "unreadable or empty face crop")]}
            return self._sample(crop, image, 0)
        try:
            result = self._blend(crop, np.random.default_rng([self.seed, crop]))
        except _UnusableCrop as error:
            return {SKIPPED_KEY: [warn_skip(error.path, error.reason)]}
        return self._sample(crop, result.fake, 1)


class PairBatchSampler(BatchSampler):
    """Batches of ``batch_size // 2`` crop indices: each becomes a real and its self-blend.

    Like :class:`datamodules.samplers.BalancedBatchSampler` it draws from its
    ``sampler`` (a ``DistributedSampler`` under DDP) without repeats until every crop
    was used, for ``num_batches`` batches (None: one pass).

    Args:
        sampler: where the indices come from.
        batch_size: faces per batch, even: half reals, half their blends.
        drop_last: kept for the ``BatchSampler`` interface; batches are always full.
        num_batches: batches per epoch; None is one pass over the sampler's crops.
    """

    def __init__(
        self,
        sampler: Sampler[int],
        batch_size: int,
        drop_last: bool = True,
        *,
        num_batches: int | None = None,
    ) -> None:
        if batch_size < 2 or batch_size % 2:
            raise ValueError(
                f"batch_size={batch_size}: self-blended batches need an even size >= 2 "
                "(half real crops, half their self-blends)."
            )
        super().__init__(sampler, batch_size, drop_last)
        self.num_batches = num_batches

    def __len__(self) -> int:
        if self.num_batches is not None:
            return self.num_batches
        return max(1, len(self.sampler) // (self.batch_size // 2))

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator()
        generator.manual_seed(int(torch.empty((), dtype=torch.int64).random_().item()))
        pool = np.asarray(list(self.sampler), dtype=np.int64)
        order, position, half = pool[:0], 0, self.batch_size // 2
        for _ in range(len(self)):
            batch: list[int] = []
            while len(batch) < half:
                if position >= len(order):
                    order, position = pool[torch.randperm(len(pool), generator=generator)], 0
                take = order[position : position + half - len(batch)]
                batch += take.tolist()
                position += len(take)
            yield batch


def collate_pairs(items: Sequence[list[dict[str, Any]]]) -> dict[str, Any]:
    """Flatten the (real, self-blend) pairs into one batch (``collate_faces``)."""
    return collate_faces([sample for pair in items for sample in pair])


class SelfBlendedFaces:
    """What the face DataModule needs for ``fakes=self_blended``: landmarks and datasets.

    Args:
        blender: the self-blend transform (with its ``landmarks`` detector).
        faces_dir: the extraction folder.
        seed: seeds the validation blends and the preview.
        progress: show progress bars while detecting landmarks.
    """

    def __init__(
        self, blender: SelfBlender, faces_dir: str | Path, seed: int = 0, progress: bool = True
    ) -> None:
        self.blender = blender
        self.faces_dir = Path(faces_dir)
        self.seed = seed
        self.progress = progress
        self.landmark_counts: dict[str, dict[str, int]] = {}
        self._pools: dict[str, tuple[pd.DataFrame, list[np.ndarray]]] = {}

    def pool(self, split: str, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[np.ndarray]]:
        """The real crops of ``rows`` that have landmarks, with their points (logged once).

        Raises:
            ValueError: no real crop, or none with landmarks.
        """
        if split in self._pools:
            return self._pools[split]
        reals = rows[rows["label"] == 0].reset_index(drop=True)
        if reals.empty:
            raise ValueError(
                f"The {split} split has no real face crops; self-blended training makes its "
                "fakes from real faces (check the index's labels and the extraction)."
            )
        found = resolve_crop_landmarks(
            reals, self.faces_dir, getattr(self.blender, "landmarks", None), self.progress
        )
        self.landmark_counts[split] = found.counts()
        keep = [index for index, points in enumerate(found.points) if points is not None]
        self._log_pool(split, rows, reals, found, keep)
        if not keep:
            raise ValueError(
                f"None of the {len(reals)} real {split} crops in {self.faces_dir} has "
                "landmarks, so no self-blend mask can be made: extract with MTCNN (it stores "
                "five points per crop), give known landmarks (data.extract.landmarks_csv, e.g. "
                "the embedded dataset's landmarks.csv), or check that faces are in the crops."
            )
        self._pools[split] = (
            reals.iloc[keep].reset_index(drop=True),
            [found.points[i] for i in keep],
        )
        return self._pools[split]

    def _log_pool(
        self,
        split: str,
        rows: pd.DataFrame,
        reals: pd.DataFrame,
        found: CropLandmarks,
        keep: list[int],
    ) -> None:
        counts = ", ".join(f"{source} {count}" for source, count in sorted(found.counts().items()))
        log.info(
            "Self-blended %s data: %d real crops (%d fake crops of the split not used); mask "
            "landmarks by source: %s",
            split,
            len(reals),
            int((rows["label"] != 0).sum()),
            counts,
        )
        left_out = [i for i, source in enumerate(found.sources) if source == NONE]
        if left_out:
            named = ", ".join(reals["path"].iloc[left_out[:5]])
            log.warning(
                "%d of %d real %s crops have no landmarks and are left out of self-blending "
                "(e.g. %s)",
                len(left_out),
                len(reals),
                split,
                named,
            )

    def train_dataset(self, rows: pd.DataFrame, transform: Any, rank: int = 0) -> SelfBlendedPairs:
        """Training pairs from the real crops of the train split."""
        table, points = self.pool("train", rows)
        return SelfBlendedPairs(table, self.faces_dir, points, self.blender, transform, rank)

    def validation_dataset(self, rows: pd.DataFrame, transform: Any) -> SelfBlendedValidation:
        """The val split's reals and one seeded self-blend of each."""
        table, points = self.pool("val", rows)
        return SelfBlendedValidation(
            table, self.faces_dir, points, self.blender, transform, seed=self.seed
        )

    def examples(self, count: int = 8) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(real crop, blend mask, self-blend) of ``count`` training crops spread over the split.

        Seeded with ``seed``: the same examples every time, for a person to look at.
        """
        if "train" not in self._pools:
            return []
        table, points = self._pools["train"]
        spread = np.unique(np.linspace(0, len(table) - 1, count).round().astype(int)).tolist()
        order = spread + sorted(set(range(len(table))) - set(spread))
        shown = []
        for index in order:
            image = read_crop(self.faces_dir / table["path"].iloc[index])
            if image is None:
                continue
            try:
                result = self.blender(
                    image, points[index], np.random.default_rng([self.seed, index])
                )
            except ValueError:
                continue
            shown.append((result.real, result.mask, result.fake))
            if len(shown) == count:
                break
        return shown


def check_fakes(fakes: str, blender: Callable[..., Any] | None) -> str:
    """Return ``fakes`` if it is a known choice with what it needs, else raise a clear error."""
    if fakes not in FAKES_CHOICES:
        raise ValueError(f"data.fakes={fakes!r} must be one of {', '.join(FAKES_CHOICES)}.")
    if fakes == "self_blended" and blender is None:
        raise ValueError(
            "data.fakes=self_blended needs data.self_blend (e.g. the config group "
            "self_blend: paper, _target_ fakedetect.self_blend.SelfBlend)."
        )
    return fakes
