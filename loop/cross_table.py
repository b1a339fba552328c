"""The loop's cross-dataset table: each detector on each of the loop's test sets, calibrated.

Detectors trained on one kind of fake are read against another kind: the supervised
detector (FOMM fakes) and the self-blended one (real faces only) are scored on the FOMM
test set and on self-blended copies of the same test reals
(:mod:`loop.self_blended_videos`). Every video goes through one face pipeline, the
robustness study's (``pipeline.study_overrides``: frames per video, crop policy, size),
with one :class:`fakedetect.scoring.VideoScorer` holding both networks, so a real video
both sets share is decoded and scored once. A video's logit is the mean of its face
logits (its score the sigmoid), as in the paper.

Columns (``crosseval.csv``), the names of ``fakedetect.crosseval``'s table: video AUC,
frame AUC, AP, EER, log loss, balanced accuracy at 0.5 and expected calibration error of
the video scores. Then each detector is calibrated (:mod:`fakedetect.calibration`) on the
validation split of the set it was validated on in training (the supervised detector on
FOMM's validation videos, the self-blended one on the validation reals and their
self-blends: it never meets a FOMM fake), and its measures on every test set are given
before and after (``calibration.csv``), with a reliability diagram of each detector's
video scores on every test set, raw and through each map (``reliability/<detector>.png``).
A video that cannot be read is skipped and counted; one without a face has no score and
is counted too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from datamodules.extraction.crops import faces_of_video
from datamodules.video_io import UnreadableVideoError
from fakedetect.calibration import calibration_measures, fit_calibration
from fakedetect.crosseval.table import metrics_row
from fakedetect.reliability import DEFAULT_BINS, plot_reliability
from fakedetect.scoring import VideoScorer, jpeg_roundtrip

TABLE_COLUMNS = [
    "detector", "test_set", "videos", "real", "fake", "no_face", "unreadable", "auc_video",
    "auc_frame", "ap_video", "eer_video", "logloss_video", "bacc_video", "ece_video",
]  # fmt: skip
MEASURES = ("ece", "bacc", "logloss")


@dataclass
class CrossTable:
    """What :func:`cross_table` wrote: the two tables and the face logits they come from."""

    table: pd.DataFrame
    calibration: pd.DataFrame
    faces: pd.DataFrame


def split_videos(labels_csv: str | Path, split: str) -> pd.DataFrame:
    """``video, path (absolute), label`` of one split of a video index."""
    labels_csv = Path(labels_csv)
    table = pd.read_csv(labels_csv, dtype={"video": str}, keep_default_na=False)
    chosen = table[table["split"] == split]
    if chosen.empty:
        raise ValueError(f"{labels_csv} has no video in the {split} split.")
    paths = [str((labels_csv.parent / path).resolve()) for path in chosen["path"]]
    return pd.DataFrame(
        {"video": chosen["video"].to_numpy(), "path": paths, "label": chosen["label"].to_numpy()}
    )


class _FaceLogits:
    """Every network's face logits per video file, each file scored once.

    The crops of all videos asked for at once are scored together in full batches:
    one forward pass per batch of crops, not per video.
    """

    def __init__(self, scorer: VideoScorer) -> None:
        self.scorer = scorer
        self.by_path: dict[str, pd.DataFrame | None] = {}

    def score(self, paths: Sequence[str]) -> None:
        """Score the files not scored yet."""
        crops, owners = [], []
        quality = self.scorer.jpeg_quality
        for path in dict.fromkeys(p for p in paths if p not in self.by_path):
            try:
                found = faces_of_video(path, self.scorer.detector, self.scorer.settings)
            except UnreadableVideoError:
                self.by_path[path] = None
                continue
            self.by_path[path] = pd.DataFrame()  # no face unless crops follow
            for frame, frame_crops in zip(found.frames, found.crops, strict=True):
                for rank, crop in enumerate(frame_crops):
                    crops.append(jpeg_roundtrip(crop, quality) if quality else crop)
                    owners.append((path, frame, rank))
        if not crops:
            return
        logits = self.scorer.score_crops(crops)
        where = pd.DataFrame(owners, columns=["path", "frame", "face_rank"])
        for path, rows in where.groupby("path", sort=False):
            index = rows.index.to_numpy()
            faces = self.scorer.faces_table(rows["frame"], rows["face_rank"], logits[index])
            self.by_path[str(path)] = faces

    def of_set(
        self, name: str, split: str, videos: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A set's face rows (``test_set, split, video, label, frame, logit_*``) and videos.

        The video table is ``video, label, status`` with ``status`` ``ok``, ``no_face`` or
        ``unreadable``, as :mod:`fakedetect.crosseval` counts them.
        """
        self.score(list(videos["path"]))
        tables, statuses = [], []
        for video in videos.itertuples(index=False):
            faces = self.by_path[video.path]
            status = "unreadable" if faces is None else "ok" if len(faces) else "no_face"
            statuses.append((video.video, video.label, status))
            if status == "ok":
                labelled = faces.assign(test_set=name, split=split, video=video.video)
                tables.append(labelled.assign(label=video.label))
        faces = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        return faces, pd.DataFrame(statuses, columns=["video", "label", "status"])


def video_logits(faces: pd.DataFrame, detector: str) -> pd.DataFrame:
    """``video, label, logit`` (the mean face logit of ``detector``) of every scored video."""
    grouped = faces.groupby("video", sort=True)
    return pd.DataFrame(
        {"label": grouped["label"].first(), "logit": grouped[f"logit_{detector}"].mean()}
    ).reset_index()


def table_row(
    detector: str,
    test_set: str,
    faces: pd.DataFrame,
    videos: pd.DataFrame,
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """One detector on one test set, by the rows builder of ``fakedetect.crosseval``.

    Args:
        detector: its name (face logits in ``logit_<detector>``).
        test_set: the set's name.
        faces: the set's face rows (:meth:`_FaceLogits.of_set`).
        videos: the set's ``video, label, status`` table.
        bins: reliability bins of the ECE.
    """
    if len(faces):
        logits = video_logits(faces, detector)[["video", "logit"]]
        # its own logits, not the ensemble's "logit" the scorer's face table also holds
        frames = faces.drop(columns="logit", errors="ignore")
        frames = frames.rename(columns={f"logit_{detector}": "logit"})
    else:
        logits = pd.DataFrame(columns=["video", "logit"])
        frames = pd.DataFrame(columns=["label", "logit"])
    table = videos.merge(logits, on="video", how="left")
    row = {"detector": detector, "test_set": test_set} | metrics_row(table, frames, bins)
    return {column: row[column] for column in TABLE_COLUMNS}


def _measures(logits: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS) -> dict:
    """The detector package's calibration measures under this table's column names."""
    measured = calibration_measures(logits, labels, bins)
    return {"ece": measured["ece"], "bacc": measured["bacc"], "logloss": measured["nll"]}


Curves = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


def calibration_rows(
    detector: str,
    fitted_on: str,
    validation: pd.DataFrame,
    tests: Mapping[str, pd.DataFrame],
    methods: Sequence[str],
    bins: int = DEFAULT_BINS,
) -> tuple[list[dict[str, Any]], Curves]:
    """Fit each method on ``detector``'s validation videos; measure every test set before/after.

    Returns:
        The rows of ``calibration.csv`` and the reliability curves of the video scores,
        ``{test set: {"raw" | method: (probabilities, labels)}}``.
    """
    fit = video_logits(validation, detector)
    scored = {name: video_logits(faces, detector) for name, faces in tests.items()}
    scored = {name: (v["logit"].to_numpy(), v["label"].to_numpy()) for name, v in scored.items()}
    before = {name: _measures(logits, labels, bins) for name, (logits, labels) in scored.items()}
    curves = {name: {"raw": (expit(logits), labels)} for name, (logits, labels) in scored.items()}
    rows = []
    for method in methods:
        mapping = fit_calibration(
            fit["logit"].to_numpy(), fit["label"].to_numpy(), method, fitted_on=fitted_on, bins=bins
        )
        for test_set, (logits, labels) in scored.items():
            calibrated = mapping.apply(logits)
            after = _measures(calibrated, labels, bins)
            curves[test_set][method] = (expit(calibrated), labels)
            row = {"detector": detector, "test_set": test_set, "method": method}
            row |= {"fitted_on": fitted_on, "val_videos": len(fit), "slope": mapping.slope}
            row["bias"] = mapping.bias
            for name in MEASURES:
                row[f"{name}_before"], row[f"{name}_after"] = before[test_set][name], after[name]
            rows.append(row)
    return rows, curves


def cross_table(
    scorer: VideoScorer,
    test_sets: Mapping[str, str | Path],
    calibrate_on: Mapping[str, str],
    output_dir: str | Path,
    methods: Sequence[str] = ("temperature", "platt"),
    bins: int = DEFAULT_BINS,
) -> CrossTable:
    """Score every detector of ``scorer`` on every set and write the tables (module docstring).

    Args:
        scorer: one scorer holding every detector, each network named as the detector.
        test_sets: ``{name: video index CSV}``: its ``test`` split is scored, and its ``val``
            split where a detector is calibrated on it.
        calibrate_on: ``{detector: test set name}`` whose validation split calibrates it.
        output_dir: where ``crosseval.csv``, ``calibration.csv`` and ``faces.csv`` go.
        methods: the calibration maps fitted (``temperature``, ``platt``).
        bins: reliability bins of the ECE.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    videos = {(name, "test"): split_videos(csv, "test") for name, csv in test_sets.items()}
    for name in dict.fromkeys(calibrate_on.values()):
        videos[(name, "val")] = split_videos(test_sets[name], "val")
    logits = _FaceLogits(scorer)
    logits.score(pd.concat(videos.values())["path"])  # every file at once, in full batches
    faces = {key: logits.of_set(*key, table) for key, table in videos.items()}
    rows, tests = [], {}
    for name in test_sets:
        tests[name], statuses = faces[(name, "test")]
        rows += [table_row(d, name, tests[name], statuses, bins) for d in scorer.model_names]
    calibration = []
    for detector, name in calibrate_on.items():
        validation = faces[(name, "val")][0]
        fitted, curves = calibration_rows(
            detector, f"{name} (val)", validation, tests, methods, bins
        )
        calibration += fitted
        title = f"{detector}: video scores before and after calibration on {name} (val)"
        plot_reliability(curves, output_dir / "reliability" / f"{detector}.png", title, bins)
    all_faces = [table for table, _ in faces.values()]
    result = CrossTable(
        pd.DataFrame(rows, columns=TABLE_COLUMNS),
        pd.DataFrame(calibration),
        pd.concat(all_faces, ignore_index=True),
    )
    result.table.to_csv(output_dir / "crosseval.csv", index=False)
    result.calibration.to_csv(output_dir / "calibration.csv", index=False)
    result.faces.to_csv(output_dir / "faces.csv", index=False)
    return result


def headline_numbers(result: CrossTable, headline_set: str) -> dict[str, float | None]:
    """``crosseval/<detector>/<set>/auc_video`` and each detector's Platt calibration on one set."""

    def number(value: Any) -> float | None:
        return float(value) if math.isfinite(float(value)) else None

    numbers = {
        f"crosseval/{row.detector}/{row.test_set}/auc_video": number(row.auc_video)
        for row in result.table.itertuples()
    }
    chosen = result.calibration
    if not chosen.empty:
        chosen = chosen[(chosen["test_set"] == headline_set) & (chosen["method"] == "platt")]
    for row in chosen.to_dict(orient="records"):
        for name in MEASURES:
            for when in ("before", "after"):
                key = f"calibration/{row['detector']}/{name}_{when}"
                numbers[key] = number(row[f"{name}_{when}"])
    return numbers


def write_summary(result: CrossTable, output_dir: str | Path, parameters: Mapping) -> Path:
    """``summary.json`` (written last: the step is finished when it exists)."""
    path = Path(output_dir) / "summary.json"
    tables = {
        "table": result.table.replace({np.nan: None}).to_dict(orient="records"),
        "calibration": result.calibration.replace({np.nan: None}).to_dict(orient="records"),
    }
    path.write_text(json.dumps({**tables, "parameters": dict(parameters)}, indent=2, default=str))
    return path
