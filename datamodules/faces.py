"""Face crops for deepfake detection: the DataModule (its dataset: :mod:`datamodules.face_crops`).

A video index (``video, path, label, original, split``) says what each video
is; the faces table a face extraction writes (``DIR/faces.csv``: ``video,
frame, path, left, top, right, bottom, confidence, face_rank``) says where its
face crops are. The DataModule joins them on ``video``, keeps the most
confident face(s) of each frame and, if asked, a few evenly spaced frames per
video, and serves:

- training: balanced batches (half real, half fake) of augmented crops, or
  triplets, as the LightningModule's ``train_sampling`` asks at every epoch;
- validation / test: every kept crop once, in order, with its video id, so
  video-level metrics need no path parsing.

With ``fakes="self_blended"`` training uses the split's real crops only, each with its
self-blended pseudo-fake (:mod:`datamodules.self_blended`).

Binary batches: ``image`` float32 ``(B, 3, S, S)`` (ImageNet-normalised),
``label`` float32 ``(B,)`` (1 = fake), ``video`` list of ids, ``frame`` and
``face_rank`` int64 ``(B,)``. Triplet batches: ``anchor``, ``positive``,
``negative`` images, ``anchor_label``, ``negative_label``. Every batch has
``skipped``: unreadable crops are replaced by another crop of the same class in
training and left out of evaluation, and named either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from datamodules.extraction.crops import CropSettings
from datamodules.face_crops import FaceCropDataset, collate_faces, seed_worker
from datamodules.face_tables import SPLITS, join_faces, read_video_index, unfinished_videos
from datamodules.face_transform import IMAGENET_MEAN, IMAGENET_STD, face_transform
from datamodules.plain import plain_container
from datamodules.samplers import (
    BalancedBatchSampler,
    TrainSampling,
    TripletBatchSampler,
    fixed_triplets,
)
from datamodules.self_blended import (
    PairBatchSampler,
    SelfBlendedFaces,
    check_fakes,
    collate_pairs,
)
from datamodules.training.global_batch import announce_batch_sizes, split_global_batch, world_size

log = logging.getLogger(__name__)

_STAGE_SPLITS = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
}


class FaceDataModule(pl.LightningDataModule):
    """Face crops of a video dataset for training and testing the detectors.

    Args:
        index: the video index, as a CSV path or a callable returning the
            DataFrame (a Hydra ``_partial_`` index builder).
        faces_dir: the extraction folder holding ``faces.csv`` and the crops.
        image_size: side of the square network input.
        frames_per_video: training frames kept per video (evenly spaced); null keeps all.
        val_frames_per_video: the same for validation.
        test_frames_per_video: the same for test and predict.
        max_faces_per_frame: faces kept per frame, most confident first.
        batch_size: faces per training step over all processes (the global batch; each
            of the trainer's processes loads ``batch_size / world_size``, balanced, so
            that share must be even).
        triplet_batch_size: triplets per step in triplet training and validation (global).
        eval_batch_size: faces per validation/test step (global); null is ``batch_size``.
        val_triplets: validation triplets (drawn once with ``seed``) in triplet phases.
        augment: training augmentation on the fitted uint8 crop (e.g.
            :func:`fakedetect.augment.icpr_augmentation`); null for none.
        num_workers: DataLoader worker processes.
        pin_memory: pin batches for GPU transfer; null pins when CUDA is available.
        extract: arguments of ``datamodules.extraction.extract.extract_faces`` to extract the
            faces of the index at start-up when ``faces.csv`` is missing or
            incomplete; null to require a finished extraction.
        seed: seeds the fixed validation triplets (and the self-blended validation).
        mean: normalisation mean (ImageNet's).
        std: normalisation std (ImageNet's).
        fakes: ``index`` (the index's fake videos) or ``self_blended`` (train on the real
            crops and their self-blends; :mod:`datamodules.self_blended`).
        self_blend: the self-blend transform for ``self_blended`` (from the detector
            package by config: ``fakedetect.self_blend.SelfBlend``).
    """

    def __init__(
        self,
        index: str | Path | Callable[[], pd.DataFrame],
        faces_dir: str | Path,
        image_size: int = 224,
        frames_per_video: int | None = None,
        val_frames_per_video: int | None = None,
        test_frames_per_video: int | None = None,
        max_faces_per_frame: int = 1,
        batch_size: int = 32,
        triplet_batch_size: int = 12,
        eval_batch_size: int | None = None,
        val_triplets: int = 2000,
        augment: A.BasicTransform | None = None,
        num_workers: int = 4,
        pin_memory: bool | None = None,
        extract: Mapping[str, Any] | None = None,
        seed: int = 0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        fakes: str = "index",
        self_blend: Any = None,
    ) -> None:
        super().__init__()
        self.fakes = check_fakes(fakes, self_blend)
        self.self_blended = (
            SelfBlendedFaces(self_blend, faces_dir, seed) if fakes == "self_blended" else None
        )
        self.index = index
        self.faces_dir = Path(faces_dir)
        self.image_size = image_size
        self.frames_per_video = {
            "train": frames_per_video,
            "val": val_frames_per_video,
            "test": test_frames_per_video,
        }
        self.max_faces_per_frame = max_faces_per_frame
        self.batch_size = batch_size
        self.triplet_batch_size = triplet_batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_triplets = val_triplets
        self.augment = augment
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.extract = plain_container(extract)
        self.seed = seed
        self.mean, self.std = tuple(mean), tuple(std)
        self._index_df: pd.DataFrame | None = None
        self.splits: dict[str, pd.DataFrame] = {}
        self.per_process: dict[str, int] = {}  # shares of the global batch sizes, at setup

    @property
    def faces_csv(self) -> Path:
        """The faces table of the extraction folder."""
        return self.faces_dir / "faces.csv"

    def video_index(self) -> pd.DataFrame:
        """The video index, read or built once, with its columns checked."""
        if self._index_df is None:
            self._index_df = read_video_index(self.index)
        return self._index_df

    def _extraction_hint(self) -> str:
        return (
            f"extract the faces first: `python -m datamodules.extraction videos=<the index CSV or "
            f"video folder> output={self.faces_dir}`, or set data.extract to extract them "
            "at start-up"
        )

    def prepare_data(self) -> None:
        """Extract the faces of the index when ``faces.csv`` is missing or lacks videos.

        Runs only where ``extract`` is configured; the extraction resumes, so
        videos already done are not redone.
        """
        missing = unfinished_videos(self.faces_dir, self.video_index()["video"])
        if missing and self.extract is not None:
            # Imported when needed: most runs find their faces extracted already.
            from datamodules.extraction.extract import extract_faces

            log.info("Extracting faces of %d videos into %s", len(missing), self.faces_dir)
            crop, options = CropSettings.split_options(self.extract)
            extract_faces(self.video_index(), self.faces_dir, crop=crop, **options)
        if self.self_blended is not None and self.faces_csv.is_file():
            self.setup("fit")  # finds the landmarks once here, cached for every process
            self.self_blended.pool("train", self.splits["train"])
            if self._self_blended_validation():
                self.self_blended.pool("val", self.splits["val"])

    def setup(self, stage: str | None = None) -> None:
        """Join index and faces, subsample frames, split; fail early on anything unusable."""
        self._split_batches()
        if not self.splits:
            self.splits = join_faces(
                self.faces_csv,
                self.video_index(),
                self.max_faces_per_frame,
                self.frames_per_video,
                self._extraction_hint(),
            )
        for split in _STAGE_SPLITS.get(stage or "fit", SPLITS):
            self._require(split, both_classes=split == "train" and self.self_blended is None)

    def _split_batches(self) -> None:
        """Each process's share of the global batch sizes (a clear error when uneven)."""
        processes = world_size(self)
        sizes = {
            "batch_size": (self.batch_size, 2, "half real, half fake"),
            "triplet_batch_size": (self.triplet_batch_size, 1, ""),
            "eval_batch_size": (self.eval_batch_size, 1, ""),
        }
        self.per_process = {
            key: split_global_batch(key, size, processes, multiple, what)
            for key, (size, multiple, what) in sizes.items()
        }
        announce_batch_sizes(
            self, {key: (sizes[key][0], share) for key, share in self.per_process.items()}
        )

    def _require(self, split: str, both_classes: bool = False) -> pd.DataFrame:
        rows = self.splits[split]
        if rows.empty:
            videos = self.video_index()["split"].value_counts()
            counts = ", ".join(f"{name} {int(videos.get(name, 0))}" for name in SPLITS)
            raise ValueError(
                f"The {split} split has no face crops (faces {self.faces_csv}; videos in the "
                f"index: {counts}): give the index {split} videos (a larger {split} fraction "
                "of the index builder, or the split column of the CSV), and check that the "
                "extraction finished."
            )
        if both_classes and rows["label"].nunique() < 2:
            present = "fake" if rows["label"].iloc[0] else "real"
            raise ValueError(
                f"The {split} split has only {present} faces; balanced and triplet "
                "training need real and fake ones."
            )
        return rows

    def _dataset(self, split: str, train: bool, both_classes: bool = False) -> FaceCropDataset:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        return FaceCropDataset(
            self._require(split, both_classes), self.faces_dir, self._transform(train), train, rank
        )

    def _loader(
        self, dataset: Dataset, collate_fn: Callable = collate_faces, **kwargs: Any
    ) -> DataLoader:
        return DataLoader(
            dataset,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            collate_fn=collate_fn,
            worker_init_fn=seed_worker if self.num_workers else None,
            persistent_workers=False,
            **kwargs,
        )

    def train_sampling(self) -> TrainSampling:
        """The module's wish for this epoch (its ``train_sampling``), or balanced single faces."""
        module = self.trainer.lightning_module if self.trainer is not None else None
        wish = getattr(module, "train_sampling", None)
        return wish if isinstance(wish, TrainSampling) else TrainSampling()

    def train_dataloader(self) -> DataLoader:
        """Balanced single faces or triplets, ``batches_per_epoch`` batches, as the module asks."""
        sampling = self.train_sampling()
        if self.self_blended is not None:
            return self._self_blended_train_loader(sampling)
        dataset = self._dataset("train", train=True, both_classes=True)
        sampler_class = TripletBatchSampler if sampling.mode == "triplet" else BalancedBatchSampler
        key = "triplet_batch_size" if sampling.mode == "triplet" else "batch_size"
        batch_size = self.per_process[key]
        batch_sampler = sampler_class(
            RandomSampler(dataset),
            batch_size,
            True,
            labels=dataset.labels,
            num_batches=sampling.batches_per_epoch,
        )
        return self._loader(dataset, batch_sampler=batch_sampler)

    def val_dataloader(self) -> DataLoader:
        """Every validation face in order, or fixed triplets while the module trains on triplets."""
        if self.train_sampling().mode == "triplet":
            dataset = self._dataset("val", train=False, both_classes=True)
            triplets = fixed_triplets(dataset.labels, self.val_triplets, self.seed)
            return self._loader(
                dataset, sampler=triplets, batch_size=self.per_process["triplet_batch_size"]
            )
        if self._self_blended_validation():
            dataset = self.self_blended.validation_dataset(
                self.splits["val"], self._transform(False)
            )
            return self._loader(dataset, batch_size=self.per_process["eval_batch_size"])
        return self._loader(
            self._dataset("val", train=False), batch_size=self.per_process["eval_batch_size"]
        )

    def _self_blended_validation(self) -> bool:
        """Whether validation self-blends its reals: self-blended data without val fakes."""
        return self.self_blended is not None and not self._require("val")["label"].any()

    def _transform(self, train: bool) -> A.Compose:
        return face_transform(self.image_size, self.augment if train else None, self.mean, self.std)

    def _self_blended_train_loader(self, sampling: TrainSampling) -> DataLoader:
        if sampling.mode != "binary":
            raise ValueError(
                f"data.fakes=self_blended trains single faces; the model asks for "
                f"{sampling.mode} batches (use a binary detector such as model=effnet_b4)."
            )
        rank = self.trainer.global_rank if self.trainer is not None else 0
        dataset = self.self_blended.train_dataset(self.splits["train"], self._transform(True), rank)
        batch_sampler = PairBatchSampler(
            RandomSampler(dataset),
            self.per_process["batch_size"],
            True,
            num_batches=sampling.batches_per_epoch,
        )
        return self._loader(dataset, batch_sampler=batch_sampler, collate_fn=collate_pairs)

    def test_dataloader(self) -> DataLoader:
        """Every test face, in order."""
        return self._loader(
            self._dataset("test", train=False), batch_size=self.per_process["eval_batch_size"]
        )

    def predict_dataloader(self) -> DataLoader:
        """The test faces, for ``trainer.predict``."""
        return self.test_dataloader()
