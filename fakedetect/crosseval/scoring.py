"""Score test sets with detector networks through two caches: extracted faces and face logits.

For each test set, every network's :class:`~fakedetect.crosseval.cache.ScoreCache` is
asked which videos it lacks; only those are extracted (``datamodules.extraction``'s resumable
extraction, into ``<cache>/faces/<protocol digest>``, shared by every set scored with the
same face protocol) and only those are scored, by the machinery of ``fakedetect.predict``
(:func:`fakedetect.predict.score_extracted`). A network with nothing new is not even
loaded. An ensemble is the mean of its members' logits on the same faces, as in predict.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from torch import nn
from tqdm import tqdm

from datamodules.devices import resolve_device
from datamodules.extraction.crops import MARGIN, CropSettings
from datamodules.extraction.extract import extract_faces
from datamodules.extraction.log import FINISHED, ExtractionLog
from datamodules.training.precision import bf16_is_fast
from fakedetect.crosseval.cache import ScoreCache
from fakedetect.crosseval.specs import DetectorSpec, EvalSet
from fakedetect.predict import score_extracted
from fakedetect.scoring import VideoScorer
from fakedetect.weights import load_detector

log = logging.getLogger(__name__)

# The standard protocol: the paper's 32 frames a video, scale policy, 224 px, 0.2 margin,
# the most confident face of each frame; the face detector is MTCNN unless configured.
PROTOCOL_DEFAULTS: dict[str, Any] = {
    "detector": None,
    "frames_per_video": 32,
    "policy": "scale",
    "size": 224,
    "margin": MARGIN,
    "faces_per_frame": 1,
    "jpeg_quality": 95,
}
# Face-detector settings that change where it runs, not which faces it finds.
_RUNTIME_KEYS = ("device", "batch_size")


def face_protocol(
    defaults: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The face settings of one set: the defaults, the run's, then the set's own."""
    protocol = {**PROTOCOL_DEFAULTS, **dict(defaults or {}), **dict(overrides or {})}
    unknown = sorted(set(protocol) - set(PROTOCOL_DEFAULTS))
    if unknown:
        raise ValueError(
            f"Unknown face settings {unknown}; the protocol has {', '.join(PROTOCOL_DEFAULTS)}."
        )
    return protocol


def protocol_identity(protocol: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide which crops a video gives (runtime-only keys dropped)."""
    identity = dict(protocol)
    if isinstance(identity["detector"], Mapping):
        detector = dict(identity["detector"])
        identity["detector"] = {k: v for k, v in detector.items() if k not in _RUNTIME_KEYS}
    return identity


def protocol_digest(protocol: Mapping[str, Any]) -> str:
    """A short digest of :func:`protocol_identity` (the extraction folder's name)."""
    text = json.dumps(protocol_identity(protocol), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class ScoringOptions:
    """How the networks run (not part of what they compute, except ``precision``)."""

    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    batch_size: int = 32
    workers: int = 0
    progress: bool = True
    trust_checkpoint: bool = False

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ScoringOptions:
        """The options of a command's config (``conf/crosseval.yaml``, ``calibrate.yaml``)."""
        return cls(**{name: cfg[name] for name in cls.__dataclass_fields__ if name in cfg})

    def resolved(self) -> dict[str, str]:
        """The device type and dtype the networks will run with (part of the cache key)."""
        device = resolve_device(self.device)
        bf16 = self.precision == "bf16" or (self.precision == "auto" and bf16_is_fast(device))
        return {"device_type": device.type, "dtype": "bfloat16" if bf16 else "float32"}


@dataclass
class SetScores:
    """Per-network face logits of one set's videos, and what could not be read.

    Attributes:
        caches: the score cache of each network (by its resolved path).
        unreadable: ``key -> reason`` of videos that could not be decoded this run.
        scored: videos each network scored in this run (by member name).
    """

    caches: dict[str, ScoreCache]
    unreadable: dict[str, str]
    scored: dict[str, int]


def _member_id(member: Mapping[str, Any]) -> str:
    return str(Path(member["path"]).resolve())


class SetScorer:
    """Score test sets with the networks of several detectors, through the caches.

    Args:
        cache_dir: holds ``faces/`` (extractions) and ``scores/`` (score caches).
        options: how the networks run.
        faces: the run's face protocol (over :data:`PROTOCOL_DEFAULTS`).
    """

    def __init__(
        self,
        cache_dir: str | Path,
        options: ScoringOptions,
        faces: Mapping[str, Any] | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.options = options
        self.faces = dict(faces or {})
        self._networks: dict[str, nn.Module] = {}

    def _network(self, member: Mapping[str, Any]) -> nn.Module:
        identity = _member_id(member)
        if identity not in self._networks:
            log.info("Loading %s", member["path"])
            self._networks[identity] = load_detector(
                member["path"], member.get("architecture"), self.options.trust_checkpoint
            )
        return self._networks[identity]

    def _extract(self, eval_set: EvalSet, keys: Sequence[str], protocol: Mapping) -> Path:
        faces_dir = self.cache_dir / "faces" / protocol_digest(protocol)
        videos = eval_set.videos.set_index("key").loc[list(keys)]
        table = pd.DataFrame({"video": list(keys), "path": videos["path"].to_numpy()})
        extract_faces(
            table,
            faces_dir,
            detector=protocol["detector"],
            crop=CropSettings.split_options(protocol)[0],
            jpeg_quality=protocol["jpeg_quality"],
            workers=self.options.workers,
            progress=self.options.progress,
        )
        return faces_dir

    def score_set(self, eval_set: EvalSet, detectors: Sequence[DetectorSpec]) -> SetScores:
        """Make sure every network of ``detectors`` has scored every video of ``eval_set``."""
        protocol = face_protocol(self.faces, eval_set.faces)
        key_protocol = {**protocol_identity(protocol), **self.options.resolved()}
        members = {_member_id(m): m for d in detectors for m in d.members}
        caches = {
            identity: ScoreCache(self.cache_dir / "scores", member, key_protocol)
            for identity, member in members.items()
        }
        keys = eval_set.videos["key"].tolist()
        needed = sorted({key for cache in caches.values() for key in cache.missing(keys)})
        unreadable: dict[str, str] = {}
        scored = {members[identity]["name"]: 0 for identity in members}
        if not needed:
            return SetScores(caches, unreadable, scored)
        log.info("%s: %d of %d videos to score", eval_set.name, len(needed), len(keys))
        faces_dir = self._extract(eval_set, needed, protocol)
        status = ExtractionLog.read_status(faces_dir).drop_duplicates("video", keep="last")
        status = status.set_index("video")
        faces = ExtractionLog.read_faces(faces_dir)
        by_video = dict(tuple(faces[faces["video"].isin(needed)].groupby("video")))
        for key in needed:
            state = status["status"].get(key)
            if state not in FINISHED:
                reason = status["message"].get(key) if key in status.index else ""
                unreadable[key] = str(reason or state or "not extracted")
        for identity, cache in caches.items():
            todo = [key for key in cache.missing(keys) if key not in unreadable]
            if not todo:
                continue
            member = members[identity]
            scorer = VideoScorer(
                {member["name"]: self._network(member)},
                crop=CropSettings.split_options(protocol)[0],
                device=self.options.device,
                precision=self.options.precision,
                channels_last=self.options.channels_last,
                batch_size=self.options.batch_size,
            )
            bar = tqdm(todo, desc=f"Scoring {member['name']}", disable=not self.options.progress)
            for key in bar:
                rows = by_video.get(key, faces.iloc[:0])
                sampled = int(status.loc[key, "frames_sampled"])
                result = score_extracted(scorer, faces_dir, rows, sampled)
                cache.add(key, sampled, result.faces)
                scored[member["name"]] += 1
        return SetScores(caches, unreadable, scored)


def detector_tables(
    detector: DetectorSpec, eval_set: EvalSet, scores: SetScores
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The video and face tables of one detector on one set (an ensemble averaged per face).

    Returns:
        ``videos``: ``video, path, key, label, method, status, frames_sampled,
        frames_scored, logit, score`` and one ``logit_<member>`` (its video mean logit) per
        member; ``status`` is ``ok``, ``no_face`` or ``unreadable`` (logits NaN unless ok).
        ``frames``: ``video, label, method, frame, face_rank, logit``.
    """
    video_rows, frame_tables = [], []
    names = [member["name"] for member in detector.members]
    for row in eval_set.videos.itertuples(index=False):
        record = {**row._asdict(), "status": "unreadable", "frames_sampled": 0}
        record.update(frames_scored=0, logit=np.nan, score=np.nan)
        record.update({f"logit_{name}": np.nan for name in names})
        if row.key not in scores.unreadable:
            caches = [scores.caches[_member_id(member)] for member in detector.members]
            joined = None
            for name, cache in zip(names, caches, strict=True):
                part = cache.faces(row.key).rename(columns={"logit": f"logit_{name}"})
                joined = part if joined is None else joined.merge(part, on=["frame", "face_rank"])
            joined["logit"] = joined[[f"logit_{name}" for name in names]].mean(axis=1)
            record.update(frames_sampled=caches[0].frames_sampled(row.key))
            record.update(status="ok" if len(joined) else "no_face")
            if len(joined):
                mean = float(joined["logit"].mean())
                record.update(frames_scored=int(joined["frame"].nunique()), logit=mean)
                record.update(score=float(expit(mean)))
                record.update({f"logit_{n}": float(joined[f"logit_{n}"].mean()) for n in names})
                frame_tables.append(
                    joined[["frame", "face_rank", "logit"]].assign(
                        video=row.video, label=row.label, method=row.method
                    )
                )
        video_rows.append(record)
    frame_columns = ["video", "label", "method", "frame", "face_rank", "logit"]
    frames = (
        pd.concat(frame_tables, ignore_index=True)[frame_columns]
        if frame_tables
        else pd.DataFrame(columns=frame_columns)
    )
    return pd.DataFrame(video_rows), frames
