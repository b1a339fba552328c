"""Pose mismatch: how FOMM's relative motion suffers when source and driving poses differ.

Relative motion (the official demo's ``--relative``) assumes the source and the driving
frame motion is measured from show the same pose (paper, Sec. 3.3). For each pair of a
source image and a driving video this study measures the pose distance between the
source and driving frame 0, then animates twice: motion measured from frame 0
(``frame0``) and from the driving frame posed most like the source (``best``, the demo's
``--find_best_frame``), and scores each output.

Pairs:

- ``same``: source = frame i of video V, driving = V. The source may be posed far from
  frame 0, and a ground truth exists (V itself): quality is the reconstruction L1.
- ``cross``: source = a frame of a video of another identity. No ground truth; quality
  is measured by no-reference proxies, also computed for ``same`` pairs so that their
  agreement with L1 can be checked:

  - ``pose_error``: mean pose distance between each generated frame and its driving
    frame (does the output take the driving pose?);
  - ``kp_consistency``: distance, in pixels, between the keypoints FOMM's detector finds
    in each generated frame and the keypoints the generator was asked to produce (a
    distorted output moves them);
  - ``detector_score``: the deepfake detector's score, when a scorer is given.

Pose descriptor (``pose_descriptor``): ``landmarks``, the 5 facial landmarks of a face
detector (MTCNN) normalised as the official demo normalises its 68 (centred, divided by
the square root of their convex-hull area; :mod:`fomm.landmarks`), or ``keypoints``,
FOMM's own keypoints normalised the same way: the landmark-free fallback for faces a
face detector cannot see (drawn faces, non-face objects). The two give distances on
different scales: compare runs only with the same descriptor.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pytorch_lightning.loggers import Logger

from datamodules.command_errors import InputError
from datamodules.extraction.extract import build_detector
from datamodules.face_detection import FaceDetector
from datamodules.video_io import UnreadableVideoError, open_video, sample_indices
from fakedetect.scoring import VideoScorer
from fomm.inference import normalize_kp
from fomm.landmarks import detect_landmarks, normalize_landmarks, pose_distances
from fomm.media import fit_frames
from fomm.reconstruction import reconstruct
from fomm.visualize import points_of
from loop.studies.inputs import eval_mode, to_tensor, to_uint8
from loop.studies.options import StudyOptions
from loop.studies.pose_summary import STUDY, finish_pose_study
from loop.studies.report import (
    StudyReport,
    StudyResult,
)

log = logging.getLogger(__name__)

DESCRIPTORS = ("landmarks", "keypoints")
INITS = ("frame0", "best")
COLUMNS = [
    "pair",
    "pair_type",
    "driving_video",
    "driving_identity",
    "source_video",
    "source_identity",
    "source_frame",
    "init",
    "reference_frame",
    "pose_distance",
    "pose_distance_reference",
    "frames",
    "l1",
    "kp_consistency",
    "pose_error",
    "detector_score",
    "descriptor",
]


@dataclass
class _Descriptor:
    """Computes pose descriptors of frames: MTCNN landmarks or FOMM keypoints."""

    kind: str
    networks: torch.nn.Module
    detector: FaceDetector | None
    batch_size: int

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``(N, P, 2)`` points of ``(N, S, S, 3)`` uint8 frames (NaN where no face)."""
        if self.kind == "keypoints":
            return keypoints(self.networks, frames, self.batch_size)
        try:
            return detect_landmarks(self.detector, frames, self.batch_size)
        except ValueError as error:
            raise InputError(
                f"{error}; or measure pose without landmarks: study.pose_descriptor=keypoints"
            ) from error


@torch.inference_mode()
def keypoints(networks: torch.nn.Module, frames: np.ndarray, batch_size: int) -> np.ndarray:
    """Keypoints ``(N, K, 2)`` in [-1, 1] of uint8 frames (FOMM's, or TPSMM's control points)."""
    device = next(networks.kp_detector.parameters()).device
    out = []
    for start in range(0, len(frames), batch_size):
        batch = to_tensor(frames[start : start + batch_size]).to(device)
        out.append(points_of(networks.kp_detector(batch)).float().cpu())
    return torch.cat(out).numpy()


def frame_pose_errors(generated: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """Per-frame pose distance between generated and driving descriptors (NaN if missing)."""
    distance = ((normalize_landmarks(generated) - normalize_landmarks(driving)) ** 2).sum((1, 2))
    return np.where(np.isfinite(distance), distance, np.nan)


def pose_study(
    networks: torch.nn.Module,
    options: StudyOptions,
    pose_descriptor: str = "landmarks",
    face_detector: FaceDetector | dict | None = None,
    source_frames_per_video: int = 3,
    cross_pairs_per_video: int = 3,
    adapt_scale: bool = True,
    scorer: VideoScorer | None = None,
    num_bins: int = 4,
    seed: int = 0,
    loggers: Sequence[Logger] = (),
) -> StudyResult:
    """Measure animation quality against the source/driving pose distance, two ways.

    Args:
        networks: an FOMM model; put in eval mode for the study and restored after.
        options: the videos, frame reading and output folder every study shares (its
            ``max_frames`` counts driving frames). Identities come from ``ID#rest``
            names or an ``identity`` column (else each video is its own).
        pose_descriptor: ``landmarks`` (a face detector's 5 points) or ``keypoints``
            (FOMM's, for faces a face detector does not find).
        face_detector: the landmark detector (a ``FaceDetector`` or a config with
            ``_target_``); None: MTCNN. Unused with ``keypoints``.
        source_frames_per_video: same-identity pairs per video, their source frames
            evenly spaced from frame 0 to the last.
        cross_pairs_per_video: cross-identity pairs per driving video, sources drawn
            (seeded) from videos of other identities, at random frames.
        adapt_scale: scale the motion by the keypoint-hull ratio (the demo's default).
        scorer: a deepfake detector for the ``detector_score`` proxy; None: NaN.
        num_bins: pose-distance bins (equal counts) of ``pose_bins.csv`` and the plots.
        seed: seeds the choice of cross-identity sources.
        loggers: Lightning loggers for the per-setting numbers, tables and plots.

    Returns:
        The per-(pair, initialisation) table and the summary.

    Raises:
        InputError: an unknown descriptor, no videos, a detector without landmarks, no
            measurable pose in any pair, or other settings than an earlier table's.
    """
    if pose_descriptor not in DESCRIPTORS:
        raise InputError(
            f"pose_descriptor={pose_descriptor} is not one of {', '.join(DESCRIPTORS)}"
        )
    table = options.video_table()
    side = options.frame_side(networks, table)
    parameters = {
        "pose_descriptor": pose_descriptor,
        "source_frames_per_video": source_frames_per_video,
        "cross_pairs_per_video": cross_pairs_per_video,
        "adapt_scale": adapt_scale,
        "max_frames": options.max_frames,
        "size": side,
        "fit": options.fit,
        "seed": seed,
        "scored": scorer is not None,
    }
    report = options.open_report(
        STUDY,
        parameters,
        COLUMNS,
        "driving_video",
        ("pair", "driving_video", "source_video", "driving_identity", "source_identity"),
    )
    detector = build_detector(face_detector) if pose_descriptor == "landmarks" else None
    describe = _Descriptor(pose_descriptor, networks, detector, options.batch_size)
    report.note(
        "pose descriptor: MTCNN-style 5-point face landmarks"
        if pose_descriptor == "landmarks"
        else "pose descriptor: FOMM keypoints (the landmark-free fallback); its distances "
        "are not comparable with landmark-based ones"
    )
    if table["identity"].nunique() < 2:
        report.note("one identity only: no cross-identity pairs")
    settings = _Settings(describe, side, options.fit, adapt_scale, scorer, options.batch_size)
    with eval_mode(networks):
        for row in options.pending(report, table):
            try:
                driving = options.read_frames(row["path"], side).frames
                driving_points = describe(driving)
                pairs = _plan_pairs(
                    table,
                    row.name,
                    len(driving),
                    source_frames_per_video,
                    cross_pairs_per_video,
                    seed,
                )
                rows = []
                for pair in pairs:
                    rows += _study_pair(networks, pair, driving, driving_points, settings, report)
            except (InputError, UnreadableVideoError) as error:
                report.skip(row["video"], str(error))
                continue
            if rows:
                report.add(rows)
    return finish_pose_study(report, pose_descriptor, scorer, num_bins, loggers)


@dataclass
class _Pair:
    name: str
    kind: str
    driving: pd.Series
    source: pd.Series
    source_frame: int


def _plan_pairs(
    table: pd.DataFrame,
    position: int,
    num_frames: int,
    same_count: int,
    cross_count: int,
    seed: int,
) -> list[_Pair]:
    """The same-identity and cross-identity pairs driven by the video at ``position``."""
    driving = table.iloc[position]
    pairs = [
        _Pair(f"{driving['video']}|same|{frame}", "same", driving, driving, int(frame))
        for frame in sample_indices(num_frames, same_count)
    ]
    others = table[table["identity"] != driving["identity"]]
    if cross_count and len(others):
        rng = np.random.default_rng([seed, position])
        chosen = rng.choice(len(others), size=min(cross_count, len(others)), replace=False)
        for number in sorted(chosen):
            source = others.iloc[int(number)]
            with open_video(source["path"]) as video:
                frame = int(rng.integers(video.meta.num_frames))
            name = f"{driving['video']}|cross|{source['video']}|{frame}"
            pairs.append(_Pair(name, "cross", driving, source, frame))
    return pairs


def _source_image(pair: _Pair, driving: np.ndarray, side: int, fit: str) -> np.ndarray:
    if pair.kind == "same" and pair.source_frame < len(driving):
        return driving[pair.source_frame]
    with open_video(pair.source["path"]) as video:
        return fit_frames(video.read([pair.source_frame]), side, fit)[0]


@dataclass(frozen=True)
class _Settings:
    describe: _Descriptor
    side: int
    fit: str
    adapt_scale: bool
    scorer: VideoScorer | None
    batch_size: int


def _study_pair(
    networks: torch.nn.Module,
    pair: _Pair,
    driving: np.ndarray,
    driving_points: np.ndarray,
    settings: _Settings,
    report: StudyReport,
) -> list[dict]:
    """Both initialisations of one pair (no rows when no pose can be measured)."""
    source = _source_image(pair, driving, settings.side, settings.fit)
    distances = pose_distances(settings.describe(source[None])[0], driving_points)
    if not np.isfinite(distances[0]):
        report.skip(pair.name, "no pose measurable in the source or in driving frame 0")
        return []
    best = int(np.argmin(distances))
    driving_t = to_tensor(driving)
    source_t = to_tensor(source[None])[0]
    base = {
        "pair": pair.name,
        "pair_type": pair.kind,
        "driving_video": pair.driving["video"],
        "driving_identity": pair.driving["identity"],
        "source_video": pair.source["video"],
        "source_identity": pair.source["identity"],
        "source_frame": pair.source_frame,
        "pose_distance": float(distances[0]),
        "frames": len(driving),
        "descriptor": settings.describe.kind,
    }
    rows, measured = [], {}
    for init, reference in (("frame0", 0), ("best", best)):
        if reference not in measured:
            measured[reference] = _measure(
                networks, pair, driving_t, source_t, driving_points, reference, settings
            )
        rows.append(
            base
            | measured[reference]
            | {
                "init": init,
                "reference_frame": reference,
                "pose_distance_reference": float(distances[reference]),
            }
        )
    return rows


def _measure(
    networks: torch.nn.Module,
    pair: _Pair,
    driving: torch.Tensor,
    source: torch.Tensor,
    driving_points: np.ndarray,
    reference: int,
    settings: _Settings,
) -> dict[str, float]:
    """Animate the pair with motion measured from ``reference`` and score the output."""
    result = reconstruct(
        networks,
        driving,
        source=source,
        batch_size=settings.batch_size,
        relative=True,
        adapt_scale=settings.adapt_scale,
        initial_frame=reference,
    )
    kp_driving = torch.from_numpy(result.kp_driving)
    requested = normalize_kp(
        {"value": torch.from_numpy(result.kp_source)[None]},
        {"value": kp_driving},
        {"value": kp_driving[reference : reference + 1]},
        adapt_movement_scale=settings.adapt_scale,
        use_relative_movement=True,
    )["value"].numpy()
    generated = to_uint8(result.prediction)
    found = keypoints(networks, generated, settings.batch_size)
    describe = settings.describe
    generated_points = found if describe.kind == "keypoints" else describe(generated)
    errors = frame_pose_errors(generated_points, driving_points)
    score = math.nan
    if settings.scorer is not None:
        indices = sample_indices(len(generated), settings.scorer.settings.frames_per_video)
        score = settings.scorer.score_frames(generated[indices], indices).score
    return {
        "l1": result.l1_mean if pair.kind == "same" else math.nan,
        "kp_consistency": float(
            np.linalg.norm(found - requested, axis=-1).mean() * settings.side / 2
        ),
        "pose_error": float(np.nanmean(errors)) if np.isfinite(errors).any() else math.nan,
        "detector_score": score,
    }
