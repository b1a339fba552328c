"""Score every detector on every test set and write the cross-dataset table and its plots."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pytorch_lightning.loggers import Logger
from scipy.special import expit

from fakedetect.calibration import Calibration, calibrated_ensemble_logits
from fakedetect.calibration_store import describe, read_calibration
from fakedetect.crosseval.report import log_evaluation, write_heatmap
from fakedetect.crosseval.scoring import (
    ScoringOptions,
    SetScorer,
    detector_tables,
    face_protocol,
    protocol_digest,
)
from fakedetect.crosseval.specs import DetectorSpec, detector_specs, load_eval_sets
from fakedetect.crosseval.table import TABLE_COLUMNS, evaluation_rows
from fakedetect.reliability import DEFAULT_BINS, plot_reliability

log = logging.getLogger(__name__)

VIDEO_COLUMNS = [
    "detector", "test_set", "video", "label", "method", "status", "frames_sampled",
    "frames_scored", "logit", "score", "score_calibrated", "path",
]  # fmt: skip


@dataclass
class CrossEvaluation:
    """What :func:`cross_evaluate` produced.

    Attributes:
        table: the cross-dataset table (``crosseval.csv``; columns in
            :data:`fakedetect.crosseval.table.TABLE_COLUMNS`).
        videos: every detector's score of every video (``crosseval_videos.csv``).
        files: name -> path of everything written.
        scored: videos each network scored in this run (the rest came from the cache).
        unreadable: ``{test_set: [video, ...]}`` of videos that could not be read.
    """

    table: pd.DataFrame
    videos: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    scored: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, list[str]] = field(default_factory=dict)


def _calibrations(
    detector: DetectorSpec, trust_checkpoint: bool
) -> tuple[dict[str, Calibration | None], str]:
    maps = {m["name"]: read_calibration(m["path"], trust_checkpoint) for m in detector.members}
    missing = [name for name, calibration in maps.items() if calibration is None]
    if missing:
        text = "none" if len(missing) == len(maps) else f"none ({', '.join(missing)} lack one)"
    elif len(maps) == 1:
        text = describe(next(iter(maps.values())))
    else:
        text = "; ".join(f"{name}: {describe(c)}" for name, c in maps.items())
    return maps, text


def _add_calibrated(videos: pd.DataFrame, maps: Mapping[str, Calibration | None]) -> None:
    members = {name: videos[f"logit_{name}"].to_numpy(np.float64) for name in maps}
    combined = calibrated_ensemble_logits(members, maps)
    videos["logit_calibrated"] = np.nan if combined is None else combined
    videos["score_calibrated"] = expit(videos["logit_calibrated"].to_numpy(np.float64))


def cross_evaluate(
    detectors: Mapping[str, Any] | Sequence[Any],
    test_sets: Mapping[str, Any] | Sequence[Any],
    output_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    faces: Mapping[str, Any] | None = None,
    options: ScoringOptions | None = None,
    max_videos: int | None = None,
    bins: int = DEFAULT_BINS,
    loggers: Sequence[Logger] = (),
) -> CrossEvaluation:
    """Score each detector on each test set (cached) and write the cross-dataset table.

    Args:
        detectors: ``{name: weights | [weights, ...] | {checkpoint, architecture}}`` or a
            list of those (:func:`fakedetect.crosseval.specs.detector_specs`).
        test_sets: ``{name: index CSV | folder | DataFrame | {index|folder, split, faces,
            max_videos}}`` or a list (:func:`fakedetect.crosseval.specs.load_eval_set`).
        output_dir: where the table, plots and summary go.
        cache_dir: extracted faces and cached logits (default ``output_dir/cache``); give
            the same folder to later runs so they score only what is new.
        faces: the face protocol (over the paper's: 32 frames, scale, 224 px, margin 0.2,
            one face a frame; ``detector`` a face detector config, None for MTCNN).
        options: how the networks run (device, precision, batch size, extraction workers).
        max_videos: at most this many videos of each label per set (quick runs).
        bins: reliability bins (ECE and diagrams).
        loggers: Lightning loggers that get the table, the numbers and the plots.

    Returns:
        The table, the per-video scores, the files written, and what was scored now.
    """
    options = options or ScoringOptions()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else output_dir / "cache"
    specs = detector_specs(detectors)
    sets = load_eval_sets(test_sets, max_videos)
    calibrations = {d.name: _calibrations(d, options.trust_checkpoint) for d in specs}
    scorer = SetScorer(cache_dir, options, faces)
    rows, video_tables = [], []
    curves: dict[str, dict[str, dict]] = {d.name: {} for d in specs}
    result = CrossEvaluation(pd.DataFrame(), pd.DataFrame())
    for eval_set in sets:
        scores = scorer.score_set(eval_set, specs)
        for name, count in scores.scored.items():
            result.scored[name] = result.scored.get(name, 0) + count
        if scores.unreadable:
            names = eval_set.videos.set_index("key").loc[list(scores.unreadable), "video"]
            result.unreadable[eval_set.name] = names.tolist()
        for detector in specs:
            maps, text = calibrations[detector.name]
            videos, frames = detector_tables(detector, eval_set, scores)
            _add_calibrated(videos, maps)
            rows += evaluation_rows(detector.name, eval_set.name, videos, frames, text, bins)
            video_tables.append(videos.assign(detector=detector.name, test_set=eval_set.name))
            scored = videos[videos["status"] == "ok"]
            panel = {"raw": (scored["score"].to_numpy(), scored["label"].to_numpy())}
            if scored["score_calibrated"].notna().all() and len(scored):
                panel["calibrated"] = (scored["score_calibrated"].to_numpy(), panel["raw"][1])
            curves[detector.name][eval_set.name] = panel
    result.table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    result.videos = pd.concat(video_tables, ignore_index=True)[VIDEO_COLUMNS]
    _write(result, output_dir, curves, bins)
    parameters = {
        "detectors": {d.name: [m["path"] for m in d.members] for d in specs},
        "test_sets": {s.name: s.source for s in sets},
        "cache_dir": str(cache_dir),
    }
    _write_summary(result, output_dir, specs, sets, calibrations, faces, parameters)
    images = {"auc_video": result.files["heatmap"]}
    images.update({f"reliability/{d.name}": result.files[f"reliability/{d.name}"] for d in specs})
    log_evaluation(loggers, result.table, images, parameters)
    for test_set, videos in result.unreadable.items():
        log.warning("%s: %d unreadable videos, not scored: %s", test_set, len(videos), videos[:5])
    return result


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write(result: CrossEvaluation, output_dir: Path, curves: dict, bins: int) -> None:
    result.files["table"] = output_dir / "crosseval.csv"
    result.table.to_csv(result.files["table"], index=False)
    result.files["videos"] = output_dir / "crosseval_videos.csv"
    result.videos.to_csv(result.files["videos"], index=False)
    result.files["heatmap"] = write_heatmap(result.table, output_dir / "crosseval_auc_video.png")
    for detector, panels in curves.items():
        path = output_dir / "reliability" / f"{_file_name(detector)}.png"
        plot_reliability(panels, path, f"{detector}: reliability of the video scores", bins)
        result.files[f"reliability/{detector}"] = path


def _write_summary(
    result: CrossEvaluation,
    output_dir: Path,
    specs: Sequence[DetectorSpec],
    sets: Sequence[Any],
    calibrations: Mapping[str, tuple[dict, str]],
    faces: Mapping[str, Any] | None,
    parameters: Mapping[str, Any],
) -> None:
    def finite(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    summary = {
        **parameters,
        "calibration": {name: text for name, (_, text) in calibrations.items()},
        "face_protocols": {s.name: protocol_digest(face_protocol(faces, s.faces)) for s in sets},
        "videos": {s.name: len(s.videos) for s in sets},
        "scored_this_run": result.scored,
        "unreadable": result.unreadable,
        "table": [
            {key: finite(value) for key, value in row.items()}
            for row in result.table.to_dict(orient="records")
        ],
        "files": {name: str(path) for name, path in result.files.items()},
    }
    result.files["summary"] = output_dir / "summary.json"
    result.files["summary"].write_text(json.dumps(summary, indent=2, default=str))
