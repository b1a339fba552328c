"""FOMM training pairs and test videos, and the DataModule that serves them.

A training sample is two frames of one video (source index <= driving index,
drawn uniformly, before augmentation), augmented identically; a test sample is a
whole video. Batches follow docs/architecture.md: train ``source``/``driving``
float32 ``(B, 3, H, W)`` in [0, 1] and ``name``; validation and test ``video``
float32 ``(1, T, 3, H, W)`` and ``name``; every batch has ``skipped``.

Unusable videos (corrupt, truncated, empty, wrong frame size) are skipped with
one warning naming the file; a training sample then takes another video so the
batch stays full, and the message rides in the batch's ``skipped`` list for the
``skipped_items`` callback to count and report at the end of the epoch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from datamodules.fomm_augment import FOMMAugmentation
from datamodules.fomm_layout import FOMMSplits, VideoItem, discover_splits, group_by_identity
from datamodules.frame_sources import UnreadableVideoError, VideoMeta
from datamodules.metadata_cache import MetadataCache
from datamodules.plain import plain_container
from datamodules.skipped import collate_with_skipped, warn_skip
from datamodules.training.global_batch import announce_batch_sizes, split_global_batch, world_size
from datamodules.video_io import open_video, sample_indices

log = logging.getLogger(__name__)


def sample_rng() -> np.random.Generator:
    """A generator seeded from torch's RNG.

    Why: DataLoader seeds torch differently in every worker (and Lightning's
    ``seed_everything(workers=True)`` makes that reproducible), while numpy's global
    state would be copied identically into every forked worker.
    """
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


class _VideoFrames:
    """Read and check frames of dataset videos; shared by the pair and video datasets."""

    def __init__(
        self,
        items: Sequence[VideoItem],
        metas: Sequence[VideoMeta],
        frame_shape: Sequence[int],
        resize_frames: bool,
    ) -> None:
        if len(items) != len(metas):
            raise ValueError(f"{len(items)} videos but {len(metas)} metadata entries")
        self.items = list(items)
        self.metas = list(metas)
        self.frame_size = (int(frame_shape[0]), int(frame_shape[1]))
        self.resize_frames = resize_frames

    def checked_meta(self, index: int) -> VideoMeta:
        """The video's metadata, raising for videos that cannot give frames of ``frame_shape``."""
        item, meta = self.items[index], self.metas[index]
        if meta.error:
            raise UnreadableVideoError(item.path, meta.error)
        if meta.num_frames < 1:
            raise UnreadableVideoError(item.path, "the video holds no frames")
        if (meta.height, meta.width) != self.frame_size and not self.resize_frames:
            raise UnreadableVideoError(
                item.path,
                f"frame size {meta.width}x{meta.height} differs from frame_shape "
                f"{self.frame_size[1]}x{self.frame_size[0]}; resize the video, or set "
                "resize_frames=true",
            )
        return meta

    def read(self, index: int, frame_indices: Sequence[int]) -> torch.Tensor:
        """Frames as float32 ``(T, 3, H, W)`` in [0, 1], resized to ``frame_shape`` if asked."""
        item, meta = self.items[index], self.metas[index]
        with open_video(item.path, meta, self.frame_size) as source:
            frames = source.read(frame_indices)
        # Reorder while still uint8: a whole test video is 4x smaller than in float32.
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
        if clip.shape[-2:] != self.frame_size:
            clip = F.interpolate(
                clip, size=self.frame_size, mode="bilinear", align_corners=False, antialias=True
            )
        return clip


class FOMMPairDataset(Dataset):
    """Two frames of a video per sample, for FOMM training.

    Args:
        items: the training videos.
        metas: their metadata, in the same order.
        frame_shape: ``[H, W]`` or ``[H, W, C]`` of the frames.
        id_sampling: an epoch walks identities (``ID#rest`` names); each sample
            picks a random video of its identity. Otherwise an epoch walks videos.
        num_repeats: how many times an epoch walks the identities (videos).
        augmentation: applied to both frames with one random draw, or None.
        resize_frames: resize frames of another size to ``frame_shape`` instead of
            skipping the video.
        max_attempts: unreadable videos tolerated in a row for one sample before giving up.
    """

    def __init__(
        self,
        items: Sequence[VideoItem],
        metas: Sequence[VideoMeta],
        frame_shape: Sequence[int],
        id_sampling: bool = False,
        num_repeats: int = 1,
        augmentation: FOMMAugmentation | None = None,
        resize_frames: bool = False,
        max_attempts: int = 32,
    ) -> None:
        if num_repeats < 1:
            raise ValueError(f"num_repeats={num_repeats} must be >= 1")
        self.videos = _VideoFrames(items, metas, frame_shape, resize_frames)
        self.groups = (
            group_by_identity(self.videos.items)
            if id_sampling
            else [[i] for i in range(len(self.videos.items))]
        )
        self.num_repeats = num_repeats
        self.augmentation = augmentation
        self.max_attempts = max_attempts

    def __len__(self) -> int:
        return len(self.groups) * self.num_repeats

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} of a dataset of {len(self)}")
        rng = sample_rng()
        group = self.groups[index % len(self.groups)]
        skipped: list[str] = []
        for _ in range(self.max_attempts):
            video = group[int(rng.integers(len(group)))]
            try:
                num_frames = self.videos.checked_meta(video).num_frames
                frame_indices = np.sort(rng.integers(0, num_frames, size=2))
                clip = self.videos.read(video, frame_indices)
                break
            except UnreadableVideoError as error:
                skipped.append(warn_skip(error.path, error.reason))
                group = self.groups[int(rng.integers(len(self.groups)))]
        else:
            raise RuntimeError(
                f"{self.max_attempts} videos in a row were unreadable (the last: {skipped[-1]}); "
                "the dataset looks broken, see the warnings above"
            )
        if self.augmentation is not None:
            clip = self.augmentation(clip, rng)
        return {
            "source": clip[0].contiguous(),
            "driving": clip[1].contiguous(),
            "name": self.videos.items[video].name,
            "skipped": skipped,
        }


class FOMMVideoDataset(Dataset):
    """Whole videos (or ``max_frames`` evenly spaced frames of each), for validation and test.

    An unreadable video yields a sample with ``name`` and ``skipped`` but no ``video``.
    """

    def __init__(
        self,
        items: Sequence[VideoItem],
        metas: Sequence[VideoMeta],
        frame_shape: Sequence[int],
        max_frames: int | None = None,
        resize_frames: bool = False,
    ) -> None:
        self.videos = _VideoFrames(items, metas, frame_shape, resize_frames)
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.videos.items)

    def frame_indices(self, num_frames: int) -> list[int]:
        """All frames, or ``max_frames`` spread evenly from the first to the last."""
        if self.max_frames is None or num_frames <= self.max_frames:
            return list(range(num_frames))
        return np.unique(
            np.linspace(0, num_frames - 1, self.max_frames).round().astype(int)
        ).tolist()

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.videos.items[index].name
        try:
            meta = self.videos.checked_meta(index)
            video = self.videos.read(index, self.frame_indices(meta.num_frames))
        except UnreadableVideoError as error:
            return {"name": name, "skipped": [warn_skip(error.path, error.reason)]}
        return {"video": video, "name": name, "skipped": []}


class FOMMDataModule(pl.LightningDataModule):
    """The FOMM datasets (taichi, vox, mgif, bair, nemo, fashion, or your own) as a DataModule.

    Args:
        root_dir: the dataset folder (``train/`` and ``test/``, optionally ``val/``, or the
            videos directly).
        frame_shape: ``[H, W, C]`` of the frames (official ``dataset_params.frame_shape``).
        id_sampling: walk identities (``ID#rest`` names) instead of videos in an epoch.
        augmentation_params: official ``augmentation_params`` (see :class:`FOMMAugmentation`).
        num_repeats: passes over the training identities (videos) per epoch.
        batch_size: training pairs per step over all processes, the global batch (the
            official recipes' value, the total over their DataParallel GPUs); each of the
            trainer's processes loads ``batch_size / world_size`` of them, and a size the
            processes cannot share evenly is refused at setup.
        num_workers: DataLoader worker processes.
        pin_memory: page-locked batches for faster GPU copies; None: when CUDA is available.
        persistent_workers: keep workers alive between epochs (when ``num_workers > 0``).
        test_fraction: share held out for test by the random split when there is no
            ``train/``/``test/``.
        split_seed: seed of that random split and of the validation hold-out.
        val_identities: with ``id_sampling`` and no ``val/`` folder, whole identities held out
            of the training videos for validation (never the test videos).
        val_videos: the same without ``id_sampling``: videos held out of training.
        val_max_videos: validate on at most this many validation videos (evenly spaced over
            the sorted list), so validation stays cheap; None: all of them.
        val_max_frames: frames per validation video (evenly spaced), so validation stays cheap.
        test_max_frames: frames per test video; None reads whole videos.
        resize_frames: resize frames of another size instead of skipping those videos.
        metadata_cache: the metadata cache file; None: ``<root_dir>/.video_meta.json`` (or the
            user cache folder for a read-only dataset).
        probe_workers: threads that probe uncached videos at start-up.
    """

    def __init__(
        self,
        root_dir: str,
        frame_shape: Sequence[int] = (256, 256, 3),
        id_sampling: bool = False,
        augmentation_params: dict[str, Any] | None = None,
        num_repeats: int = 1,
        batch_size: int = 8,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        val_identities: int = 8,
        val_videos: int = 8,
        val_max_videos: int | None = None,
        val_max_frames: int | None = 64,
        test_max_frames: int | None = None,
        resize_frames: bool = False,
        metadata_cache: str | None = None,
        probe_workers: int = 4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.root_dir = os.fspath(root_dir)
        self.frame_shape = tuple(int(v) for v in plain_container(frame_shape))
        if len(self.frame_shape) not in (2, 3) or min(self.frame_shape[:2]) < 1:
            raise ValueError(f"frame_shape={list(self.frame_shape)} must be [H, W] or [H, W, C]")
        if val_max_videos is not None and val_max_videos < 1:
            raise ValueError(
                f"val_max_videos={val_max_videos} must be at least 1, or null to validate on "
                "every validation video"
            )
        self.augmentation_params = plain_container(augmentation_params) or {}
        self.augmentation = FOMMAugmentation(**self.augmentation_params)
        self.train_set: FOMMPairDataset | None = None
        self.val_set: FOMMVideoDataset | None = None
        self.test_set: FOMMVideoDataset | None = None
        self.splits: FOMMSplits | None = None
        self.batch_size_per_process: int | None = None

    def _splits(self) -> FOMMSplits:
        hp = self.hparams
        return discover_splits(
            self.root_dir,
            id_sampling=hp.id_sampling,
            test_fraction=hp.test_fraction,
            seed=hp.split_seed,
            val_identities=hp.val_identities,
            val_videos=hp.val_videos,
        )

    def _probe(self, splits: FOMMSplits) -> list[VideoMeta]:
        items = splits.train + splits.val + splits.test
        cache = MetadataCache(self.root_dir, self.hparams.metadata_cache)
        return cache.probe_all(
            [item.path for item in items], self.frame_shape[:2], self.hparams.probe_workers
        )

    def prepare_data(self) -> None:
        """Check the layout and probe every video once (rank 0), filling the metadata cache."""
        self._probe(self._splits())

    def _validation_runs(self) -> bool:
        """False only when an attached Trainer is told to skip validation."""
        trainer = self.trainer
        return trainer is None or trainer.limit_val_batches != 0

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets from the layout and the (cached) metadata.

        Raises:
            ValueError: the training set is smaller than a batch, or the validation set is
                empty while validation would run (the message names the numbers and the fix).
        """
        hp = self.hparams
        self.batch_size_per_process = split_global_batch(
            "batch_size", hp.batch_size, world_size(self)
        )
        announce_batch_sizes(self, {"batch_size": (hp.batch_size, self.batch_size_per_process)})
        splits = self._splits()
        metas = self._probe(splits)
        sizes = [len(splits.train), len(splits.val), len(splits.test)]
        train_metas, val_metas, test_metas = (
            metas[: sizes[0]],
            metas[sizes[0] : sizes[0] + sizes[1]],
            metas[sizes[0] + sizes[1] :],
        )
        self.splits = splits
        self.train_set = FOMMPairDataset(
            splits.train,
            train_metas,
            self.frame_shape,
            id_sampling=hp.id_sampling,
            num_repeats=hp.num_repeats,
            augmentation=self.augmentation,
            resize_frames=hp.resize_frames,
        )
        fitting = stage in (None, "fit")
        if fitting and len(self.train_set) < hp.batch_size:
            raise ValueError(
                f"{self.root_dir}: the training set gives {len(self.train_set)} samples an epoch "
                f"({len(self.train_set.groups)} {'identities' if hp.id_sampling else 'videos'} x "
                f"num_repeats={hp.num_repeats}), fewer than the global batch_size={hp.batch_size}; "
                "raise num_repeats or lower batch_size"
            )
        if (fitting or stage == "validate") and splits.val_problem and self._validation_runs():
            raise ValueError(f"The validation set is empty: {splits.val_problem}")
        val_index = sample_indices(len(splits.val), hp.val_max_videos)
        self.val_set = FOMMVideoDataset(
            [splits.val[i] for i in val_index],
            [val_metas[i] for i in val_index],
            self.frame_shape,
            max_frames=hp.val_max_frames,
            resize_frames=hp.resize_frames,
        )
        self.test_set = FOMMVideoDataset(
            splits.test,
            test_metas,
            self.frame_shape,
            max_frames=hp.test_max_frames,
            resize_frames=hp.resize_frames,
        )
        unusable = sum(bool(meta.error) for meta in metas)
        if unusable:
            log.warning(
                "%s: %d of %d videos are unusable and will be skipped (see the warnings as "
                "they are met)",
                self.root_dir,
                unusable,
                len(metas),
            )

    def _loader(self, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        hp = self.hparams
        pin_memory = torch.cuda.is_available() if hp.pin_memory is None else hp.pin_memory
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=hp.num_workers,
            pin_memory=pin_memory,
            persistent_workers=hp.persistent_workers and hp.num_workers > 0,
            collate_fn=collate_with_skipped,
        )

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader(self.train_set, self.batch_size_per_process, train=True)

    def val_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader(self.val_set, 1, train=False)

    def test_dataloader(self) -> DataLoader:  # noqa: D102
        return self._loader(self.test_set, 1, train=False)
