"""Score face crops and whole videos with one detector or an ensemble, in this process.

:class:`VideoScorer` is what ``python -m fakedetect.predict`` uses, and what a study that
perturbs videos calls directly: ``scorer.score_video(path)`` or
``scorer.score_frames(frames)`` gives the video score without writing anything.

Scores follow the paper: an ensemble averages its members' face logits; a video's score
is the sigmoid of the mean logit over its scored faces (the most confident face of each
sampled frame by default). In memory, each crop goes through the same JPEG (quality 95)
round trip the extraction stores it with, so scoring a video directly and scoring its
extracted crops give the same numbers.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from torch import nn

from datamodules.devices import resolve_device
from datamodules.extraction.crops import (
    CropSettings,
    VideoFaces,
    faces_of_frames,
    faces_of_video,
    jpeg_params,
)
from datamodules.extraction.extract import build_detector
from datamodules.face_detection import FaceDetector
from datamodules.face_transform import face_transform
from datamodules.training.precision import bf16_is_fast
from fakedetect.weights import load_detector

PRECISIONS = ("fp32", "bf16", "auto")


def checkpoint_specs(
    checkpoint: str | os.PathLike | Mapping | Sequence, architecture: str | None = None
) -> list[dict[str, Any]]:
    """Normalise the ``checkpoint`` option into ``[{path, architecture, name}, ...]``.

    Accepts one path, a list of paths (an ensemble), or mappings with ``path`` and
    optional ``architecture`` (for the paper's ``.pth`` weights) and ``name``.
    ``architecture`` applies to the entries that do not name their own.
    """
    if checkpoint is None or (isinstance(checkpoint, Sequence) and not checkpoint):
        raise ValueError("Give checkpoint=PATH (or a list of them for an ensemble).")
    entries = [checkpoint] if isinstance(checkpoint, str | os.PathLike | Mapping) else checkpoint
    specs, names = [], set()
    for entry in entries:
        spec = dict(entry) if isinstance(entry, Mapping) else {"path": entry}
        if "path" not in spec:
            raise ValueError(f"A checkpoint entry needs a path: {entry!r}")
        spec.setdefault("architecture", architecture)
        base = str(spec.get("name") or Path(spec["path"]).stem)
        name, number = base, 1
        while name in names:
            number += 1
            name = f"{base}_{number}"
        names.add(name)
        specs.append(
            {"path": str(spec["path"]), "architecture": spec["architecture"], "name": name}
        )
    return specs


@dataclass
class VideoScore:
    """The verdict on one video.

    Attributes:
        score: sigmoid of the mean ensemble logit over the scored faces; NaN without faces.
        frames_scored: sampled frames with a scored face.
        frames_sampled: frames sampled from the video.
        faces: one row per scored face: ``frame``, ``face_rank``, ``logit`` (the
            ensemble's) and ``logit_<model>`` per member.
    """

    score: float
    frames_scored: int
    frames_sampled: int
    faces: pd.DataFrame

    def label(self, threshold: float = 0.5) -> str:
        """``fake`` / ``real`` by the threshold, or ``no face``."""
        if math.isnan(self.score):
            return "no face"
        return "fake" if self.score >= threshold else "real"


def video_score(logits: np.ndarray) -> float:
    """Sigmoid of the mean logit (NaN for no logits): the paper's video-level score."""
    if len(logits) == 0:
        return float("nan")
    return float(expit(np.mean(logits, dtype=np.float64)))


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode an RGB crop as the extraction stores it (4:4:4 chroma)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, jpeg_params(quality))
    if not ok:
        raise ValueError("JPEG encoding of a face crop failed")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class VideoScorer:
    """Detect, crop and score faces with one or several detector networks.

    Args:
        models: the networks (name -> module, or a list named ``model0``...); each
            maps normalised crops ``(B, 3, S, S)`` to logits ``(B,)``.
        detector: a face detector, a config with ``_target_``, or None for MTCNN.
        crop: the face pipeline the models were trained with: frames sampled per video,
            crop policy, size (the network input side), margin, faces scored per frame
            (the paper: 32, ``scale``, 224, 0.2, the most confident face).
        device: ``cpu``, ``cuda`` or ``auto``.
        precision: ``fp32``, ``bf16`` (autocast) or ``auto`` (bf16 where it is fast:
            CUDA with bf16, CPUs with AMX).
        channels_last: run the networks in channels-last memory format.
        batch_size: faces per forward pass.
        jpeg_quality: JPEG round trip of in-memory crops (None to skip).
    """

    def __init__(
        self,
        models: Mapping[str, nn.Module] | Sequence[nn.Module],
        detector: FaceDetector | Mapping[str, Any] | None = None,
        crop: CropSettings | None = None,
        device: str = "auto",
        precision: str = "auto",
        channels_last: bool = True,
        batch_size: int = 32,
        jpeg_quality: int | None = 95,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        named = (
            models
            if isinstance(models, Mapping)
            else {f"model{i}": m for i, m in enumerate(models)}
        )
        if not named:
            raise ValueError("VideoScorer needs at least one detector network.")
        self.device = resolve_device(device)
        memory = torch.channels_last if channels_last else torch.contiguous_format
        self.models = {
            name: model.eval().to(self.device, memory_format=memory)
            for name, model in named.items()
        }
        self.channels_last = channels_last
        use_bf16 = precision == "bf16" or (precision == "auto" and bf16_is_fast(self.device))
        self.dtype = torch.bfloat16 if use_bf16 else torch.float32
        self.settings = crop or CropSettings()
        self.batch_size = batch_size
        self.jpeg_quality = jpeg_quality
        self.transform = face_transform(self.settings.size)
        self._detector_config = detector
        self._detector: FaceDetector | None = (
            detector if isinstance(detector, FaceDetector) else None
        )

    @classmethod
    def from_checkpoints(
        cls,
        checkpoint: str | os.PathLike | Mapping | Sequence,
        architecture: str | None = None,
        trust_checkpoint: bool = False,
        **options: Any,
    ) -> VideoScorer:
        """Load our ``.ckpt`` files or the paper's ``.pth`` weights (:func:`checkpoint_specs`).

        Args:
            checkpoint: one path, a list of them (an ensemble), or ``{path, architecture,
                name}`` mappings.
            architecture: the official architecture of ``.pth`` entries that name none.
            trust_checkpoint: allow files that need full unpickling (they can run code);
                the paper's weights and our checkpoints do not need it.
            **options: the scorer's settings (see the class).
        """
        specs = checkpoint_specs(checkpoint, architecture)
        models = {
            spec["name"]: load_detector(spec["path"], spec["architecture"], trust_checkpoint)
            for spec in specs
        }
        return cls(models, **options)

    @property
    def detector(self) -> FaceDetector:
        """The face detector, built on first use."""
        if self._detector is None:
            self._detector = build_detector(self._detector_config)
        return self._detector

    @property
    def detector_source(self) -> FaceDetector | Mapping[str, Any] | None:
        """The detector for :func:`~datamodules.extraction.extract.extract_faces`: built, or config.

        Why: handing the config lets extraction workers build their own detector while
        this process builds none.
        """
        return self._detector if self._detector is not None else self._detector_config

    @property
    def model_names(self) -> list[str]:
        """The member names, in order (``logit_<name>`` columns)."""
        return list(self.models)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def to_batch(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """Fit, pad and normalise RGB crops into ``(N, 3, S, S)`` on the device."""
        images = torch.stack([self.transform(image=crop)["image"] for crop in crops])
        memory = torch.channels_last if self.channels_last else torch.contiguous_format
        return images.to(self.device, memory_format=memory)

    @torch.inference_mode()
    def score_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Logits ``(N, M)`` of N RGB crops under each of the M models."""
        out = np.zeros((len(crops), len(self.models)), dtype=np.float32)
        for start in range(0, len(crops), self.batch_size):
            batch = self.to_batch(crops[start : start + self.batch_size])
            with self._autocast():
                for column, model in enumerate(self.models.values()):
                    logits = model(batch).float().reshape(-1)
                    out[start : start + len(batch), column] = logits.cpu().numpy()
        return out

    @torch.inference_mode()
    def attention_maps(self, crops: Sequence[np.ndarray], model: str | None = None) -> np.ndarray:
        """Attention maps ``(N, h, w)`` in [0, 1] of an attention model (the first by default).

        Raises:
            ValueError: no member (or not the named one) has an attention map.
        """
        candidates = [n for n, m in self.models.items() if callable(getattr(m, "attention", None))]
        if model is not None:
            candidates = [n for n in candidates if n == model]
        if not candidates:
            raise ValueError(
                "Attention overlays need an attention model (EfficientNetAutoAttB4 or "
                f"EfficientNetAutoAttB4ST); the models here are {', '.join(self.models)}."
            )
        net = self.models[candidates[0]]
        maps = []
        for start in range(0, len(crops), self.batch_size):
            with self._autocast():
                maps.append(net.attention(self.to_batch(crops[start : start + self.batch_size])))
        return torch.cat(maps).float()[:, 0].cpu().numpy()

    def faces_table(
        self, frames: Sequence[int], ranks: Sequence[int], logits: np.ndarray
    ) -> pd.DataFrame:
        """The per-face table: frame, face_rank, ensemble logit, one logit per model."""
        table = pd.DataFrame({"frame": list(frames), "face_rank": list(ranks)})
        table["logit"] = logits.mean(axis=1) if len(logits) else np.zeros(0, np.float32)
        for column, name in enumerate(self.models):
            table[f"logit_{name}"] = logits[:, column] if len(logits) else []
        return table

    def score_table(self, table: pd.DataFrame, frames_sampled: int) -> VideoScore:
        """Turn a per-face table into the video's score."""
        return VideoScore(
            score=video_score(table["logit"].to_numpy()),
            frames_scored=int(table["frame"].nunique()),
            frames_sampled=frames_sampled,
            faces=table,
        )

    def _score_found(self, found: VideoFaces) -> VideoScore:
        crops, frames, ranks = [], [], []
        for frame, frame_crops in zip(found.frames, found.crops, strict=True):
            for rank, crop in enumerate(frame_crops):
                crops.append(jpeg_roundtrip(crop, self.jpeg_quality) if self.jpeg_quality else crop)
                frames.append(frame)
                ranks.append(rank)
        logits = self.score_crops(crops) if crops else np.zeros((0, len(self.models)), np.float32)
        return self.score_table(self.faces_table(frames, ranks, logits), len(found.frames))

    def score_frames(self, frames: np.ndarray, indices: Sequence[int] | None = None) -> VideoScore:
        """Score already decoded ``(N, H, W, 3)`` RGB frames (all of them, no sampling)."""
        indices = list(range(len(frames))) if indices is None else list(indices)
        return self._score_found(faces_of_frames(frames, indices, self.detector, self.settings))

    def score_video(self, path: str | os.PathLike) -> VideoScore:
        """Sample, detect, crop and score one video file.

        Raises:
            UnreadableVideoError: the video cannot be decoded.
        """
        return self._score_found(faces_of_video(path, self.detector, self.settings))
