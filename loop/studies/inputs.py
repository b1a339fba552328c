"""What the studies read: models from checkpoints, lists of videos, frames at the model's size.

The study functions take already loaded networks and scorers (so a training pipeline can
hand over what it holds in memory); the Hydra configs build them with
:func:`load_fomm_networks` and :func:`load_scorer`, which turn every usable mistake into
one message naming the option to fix.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from datamodules.command_errors import InputError
from datamodules.devices import resolve_device
from datamodules.extraction.crops import CropSettings
from datamodules.fomm_layout import identity_of
from datamodules.indexes.folder import folder_index
from datamodules.video_io import open_video
from datamodules.video_list import list_videos
from fakedetect.scoring import VideoScorer
from fomm.media import (
    fit_frames,
    iter_chunks,
    load_model,
    model_frame_size,
    open_input_video,
    to_tensor,
    video_fps,
)

log = logging.getLogger(__name__)

__all__ = [
    "ModelFrames",
    "eval_mode",
    "frame_size",
    "labelled_video_table",
    "load_fomm_networks",
    "load_scorer",
    "read_model_frames",
    "to_tensor",
    "to_uint8",
    "video_table",
]

VideoList = str | os.PathLike | Sequence[str | os.PathLike] | pd.DataFrame


def load_fomm_networks(
    checkpoint: str | os.PathLike | None,
    config: str | os.PathLike | None = None,
    device: str = "auto",
    trust_checkpoint: bool = False,
) -> torch.nn.Module:
    """Load the FOMM model a study animates with (``fomm.checkpoint=...`` on the command line).

    Raises:
        InputError: no checkpoint given, or one that cannot be used (the message says why).
    """
    if checkpoint in (None, "", "null"):
        raise InputError(
            "no FOMM checkpoint given; pass fomm.checkpoint=PATH (a .ckpt trained here, or an "
            "official *.pth.tar with fomm.config=its yaml)"
        )
    return load_model(checkpoint, config, resolve_device(device), trust_pickle=trust_checkpoint)


def load_scorer(
    checkpoint: str | os.PathLike | Sequence | Mapping | None,
    architecture: str | None = None,
    trust_checkpoint: bool = False,
    **options: Any,
) -> VideoScorer | None:
    """Load the deepfake detector(s) a study scores with, or None when none is configured.

    Args:
        checkpoint: our ``.ckpt``, the paper's ``.pth`` weights, or a list (an ensemble).
        architecture: for ``.pth`` weights whose architecture is not inferred.
        trust_checkpoint: allow files that need full unpickling (they can run code).
        **options: :class:`~fakedetect.scoring.VideoScorer` options (face detector,
            device, precision ...) and, flat as in the config, the crop settings
            (frames per video, crop policy and size ...).

    Raises:
        InputError: a missing or unusable weights file, or one that needs full unpickling
            without ``trust_checkpoint`` (the message names the option to fix).
    """
    if checkpoint in (None, "", "null") or (isinstance(checkpoint, Sequence) and not checkpoint):
        return None
    try:
        crop, options = CropSettings.split_options(options)
        return VideoScorer.from_checkpoints(
            checkpoint, architecture, trust_checkpoint, crop=crop, **options
        )
    except (FileNotFoundError, ValueError) as error:
        # The loaders name the file; here the options are the scorer's.
        message = str(error).replace("trust_checkpoint=true", "scorer.trust_checkpoint=true")
        raise InputError(f"scorer.checkpoint: {message}") from error


@contextlib.contextmanager
def eval_mode(networks: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Evaluate ``networks`` inside the block and give back the mode they had.

    Why: a training pipeline hands its live networks to a study between epochs.
    """
    was_training = networks.training
    networks.eval()
    try:
        yield networks
    finally:
        networks.train(was_training)


def video_table(videos: VideoList, max_videos: int | None = None) -> pd.DataFrame:
    """The ``video, path, identity`` table of the videos to study, sorted by video id.

    Args:
        videos: a video file, a folder (searched recursively), a video index CSV (``path``,
            optional ``video`` and ``identity``), a list of files, or a DataFrame with
            ``path``.
        max_videos: keep the first this many (by id); None keeps all.

    Raises:
        InputError: nothing to study (a missing path, an empty folder, a bad index).
    """
    if videos is None or (isinstance(videos, str) and videos in ("", "null")):
        raise InputError("no videos given; pass options.videos=PATH (a folder, a file or a CSV)")
    identities = None
    try:
        if isinstance(videos, Sequence) and not isinstance(videos, str):
            frame = pd.DataFrame({"path": [str(Path(v).resolve()) for v in videos]})
            table = list_videos(frame)
        else:
            table = list_videos(videos)
            source = videos if isinstance(videos, pd.DataFrame) else None
            if source is None and Path(videos).suffix.lower() == ".csv":
                source = pd.read_csv(videos, dtype=str, keep_default_na=False)
            if source is not None and "identity" in source.columns:
                identities = source["identity"].astype(str).tolist()
    except (FileNotFoundError, ValueError) as error:
        raise InputError(str(error)) from error
    table["identity"] = identities or [identity_of(Path(v).name) for v in table["video"]]
    table = table.sort_values("video", kind="stable").reset_index(drop=True)
    return table.head(max_videos) if max_videos else table


def labelled_video_table(
    videos: str | os.PathLike | pd.DataFrame,
    labels_csv: str | os.PathLike | None = None,
    split: str | None = None,
    max_videos: int | None = None,
) -> pd.DataFrame:
    """The ``video, path, label`` table of real (0) and fake (1) videos for the detector.

    Args:
        videos: a video index CSV or DataFrame (``path``, ``label`` 0/1 or real/fake,
            optional ``video`` and ``split``: what ``python -m loop.fakes`` and the index
            builders write), or a folder of videos with a labels CSV (``ROOT/labels.csv``
            by default).
        labels_csv: the labels CSV of a folder, when not ``ROOT/labels.csv``.
        split: keep only the rows of this split (``test``...); None keeps all.
        max_videos: keep this many of each label (the first by id); None keeps all.

    Raises:
        InputError: a missing path or column, labels other than 0/1, or no video left.
    """
    try:
        if isinstance(videos, pd.DataFrame):
            index = videos
            paths = list_videos(videos)
        elif Path(videos).is_dir():
            index = folder_index(videos, labels_csv)
            paths = index[["video", "path"]]
        else:
            index = pd.read_csv(videos, dtype=str, keep_default_na=False)
            paths = list_videos(videos)
    except (FileNotFoundError, ValueError) as error:
        raise InputError(str(error)) from error
    if "label" not in index.columns:
        raise InputError(f"{videos}: the video index needs a 'label' column (0 real, 1 fake)")
    text = index["label"].astype(str).str.strip().str.lower()
    labels = pd.to_numeric(text.replace({"real": "0", "fake": "1"}), errors="coerce")
    if not labels.isin([0, 1]).all():
        bad = sorted(set(index["label"][~labels.isin([0, 1])].astype(str)))[:5]
        raise InputError(f"{videos}: labels {bad} are not 0/real or 1/fake")
    table = pd.DataFrame(
        {"video": paths["video"].to_numpy(), "path": paths["path"].to_numpy(), "label": labels}
    )
    table["label"] = table["label"].astype(int)
    if split is not None:
        if "split" not in index.columns:
            raise InputError(f"{videos} has no 'split' column; drop split= or add the column")
        table = table[index["split"].astype(str).to_numpy() == split]
    table = table.sort_values("video", kind="stable")
    if max_videos:
        table = table.groupby("label", group_keys=False).head(max_videos)
    table = table.reset_index(drop=True)
    if table.empty:
        where = f" in split {split!r}" if split else ""
        raise InputError(f"{videos}: no videos{where}; check options.videos and study.split")
    return table


@dataclass
class ModelFrames:
    """A video read for a FOMM study: frames at the model's size, and how it was read."""

    frames: np.ndarray  # (T, size, size, 3) uint8
    fps: Fraction
    num_frames: int  # frames in the file (before ``max_frames``)
    height: int
    width: int


def read_model_frames(
    path: str | os.PathLike,
    size: int | None,
    fit: str = "center_crop",
    max_frames: int | None = None,
) -> ModelFrames:
    """Decode a video's first ``max_frames`` frames, fitted to ``size`` x ``size``.

    Args:
        path: the video (any kind :func:`datamodules.video_io.open_video` reads).
        size: the square side to fit frames to; None keeps them as they are.
        fit: ``center_crop``, ``resize`` or ``pad`` (see :func:`fomm.media.fit_frame`).
        max_frames: the first this many frames; None reads all.

    Raises:
        InputError: the file cannot be opened or decoded, or holds no frame.
    """
    with open_input_video(path, option="options.videos") as source:
        meta = source.meta
        count = meta.num_frames if not max_frames else min(meta.num_frames, int(max_frames))
        shape = (size, size) if size else (meta.height, meta.width)
        frames = np.empty((count, *shape, 3), dtype=np.uint8)
        for indices, chunk in iter_chunks(source, 64, range(count)):
            frames[indices.start : indices.stop] = fit_frames(chunk, size, fit) if size else chunk
        return ModelFrames(frames, video_fps(source), meta.num_frames, meta.height, meta.width)


def frame_size(networks: torch.nn.Module, first_video: str | os.PathLike, size: int | None) -> int:
    """The square size frames are fitted to: ``size``, the model's, or the first video's.

    Why: a model trained here carries no ``frame_shape``; its videos' own size (e.g. the
    embedded 64 px) is then the natural choice, not the 256 px of the published models.
    """
    if size:
        return int(size)
    config = getattr(networks, "config", None) or {}
    if (config.get("dataset_params") or {}).get("frame_shape"):
        return model_frame_size(networks)
    with open_video(first_video) as source:
        side = min(source.meta.height, source.meta.width)
    log.info("frame size %d px, from %s (the model records none)", side, first_video)
    return side


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``(T, 3, H, W)`` float in [0, 1] -> ``(T, H, W, 3)`` uint8."""
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
