"""The loop's second detector, trained on self-blended real faces only, and the comparison.

The supervised detector learns FOMM's fakes from FOMM's fakes. This one never sees a
FOMM fake: ``train.py`` with ``pipeline.sbi_detector`` (``data.fakes=self_blended``,
docs/self_blended.md) on the generated dataset's index with every fake outside the test
split removed (``sbi/index.csv``), so it trains on the real training videos, each crop
paired with its self-blend, is selected on the validation reals and their self-blends,
and is tested on exactly the supervised detector's held-out real and FOMM-fake videos.
It shares the supervised stage's face crops (``fakes/faces``), whose five landmarks per
crop place the blend masks. Then:

- the robustness study runs on it as on the supervised one (``studies/robustness_sbi``);
- self-blended copies of the validation and test reals are written
  (``self_blended/``, :mod:`loop.self_blended_videos`), a second kind of fake;
- both detectors are scored on both test sets and calibrated on their own validation
  data (``crosseval/``, :mod:`loop.cross_table`).

Each step is skipped when its output exists, as every stage of the loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from datamodules.training.selection import best_checkpoint
from loop.cross_table import CrossTable, cross_table, headline_numbers, write_summary
from loop.dashboard import LoopDashboard
from loop.run import compose_config, run_study_stage, run_train_stage, timed
from loop.self_blended_videos import write_self_blended_videos
from loop.studies.inputs import load_scorer

# The sets of the cross-dataset table, and the set whose validation split calibrates
# each detector: the one it was validated on in training.
FOMM_SET, SELF_BLENDED_SET = "fomm_fakes", "self_blended"
CALIBRATE_ON = {"supervised": FOMM_SET, "sbi": SELF_BLENDED_SET}
SBI_NUMBERS = {
    "sbi_video_auc": "test/auc_video",
    "sbi_frame_auc": "test/auc_frame",
    "sbi_balanced_accuracy": "test/bacc_video",
    "sbi_video_log_loss": "test/logloss_video",
}


def reals_outside_test(labels_csv: str | Path, output: str | Path) -> Path:
    """The dataset's index without a fake outside the test split, paths made absolute.

    Why: with no fake in its train and val splits, the self-blended detector trains on
    the reals and validates on their self-blends (``datamodules.self_blended``); the
    test split keeps the FOMM fakes, so both detectors are tested on the same videos.
    """
    labels_csv, output = Path(labels_csv), Path(output)
    labels = pd.read_csv(labels_csv, dtype={"video": str}, keep_default_na=False)
    index = labels[(labels["label"] == 0) | (labels["split"] == "test")].copy()
    index["path"] = [str((labels_csv.parent / path).resolve()) for path in index["path"]]
    output.parent.mkdir(parents=True, exist_ok=True)
    index.to_csv(output, index=False)
    return output


def _scorer(study_overrides: list[str], checkpoints: Mapping[str, Path]) -> Any:
    """One scorer with every detector, the face pipeline of the studies' scorer."""
    scorer = OmegaConf.to_container(compose_config("studies", study_overrides).scorer, resolve=True)
    for key in ("_target_", "_recursive_", "checkpoint"):
        scorer.pop(key, None)
    named = [{"path": str(path), "name": name} for name, path in checkpoints.items()]
    return load_scorer(named, **scorer)


def _read_cross_table(folder: Path) -> CrossTable:
    return CrossTable(
        pd.read_csv(folder / "crosseval.csv"),
        pd.read_csv(folder / "calibration.csv"),
        pd.read_csv(folder / "faces.csv", dtype={"video": str}),
    )


def evaluate_both(
    pipeline: DictConfig,
    out: Path,
    labels: Path,
    checkpoints: Mapping[str, Path],
    sbi_overrides: list[str],
) -> CrossTable:
    """Self-blended copies of the val and test reals, then the cross-dataset table."""
    settings = pipeline.crosseval
    folder = out / "crosseval"
    if (folder / "summary.json").is_file():
        return _read_cross_table(folder)
    blender = hydra.utils.instantiate(compose_config("train", sbi_overrides).data.self_blend)
    videos = settings.self_blended_videos
    self_blended = write_self_blended_videos(
        labels,
        out / "self_blended",
        blender,
        landmarks_csv=videos.landmarks_csv,
        max_frames=videos.max_frames,
        crf=videos.crf,
        seed=videos.seed,
    )
    result = cross_table(
        _scorer(list(pipeline.study_overrides), checkpoints),
        {FOMM_SET: labels, SELF_BLENDED_SET: self_blended},
        {name: CALIBRATE_ON[name] for name in checkpoints},
        folder,
        list(settings.calibration_methods),
        int(settings.bins),
    )
    parameters = {"checkpoints": dict(checkpoints), "calibrate_on": CALIBRATE_ON}
    write_summary(result, folder, parameters | OmegaConf.to_container(settings, resolve=True))
    return result


def run_sbi_stages(
    cfg: DictConfig,
    out: Path,
    labels: Path,
    detector_checkpoint: Path,
    timings: dict[str, float],
    dashboard: LoopDashboard | None = None,
) -> dict[str, Any]:
    """Train, test and stress the self-blended detector; compare it with the supervised one.

    Args:
        cfg: the composed ``conf/loop.yaml`` (its ``pipeline.sbi_detector`` and
            ``pipeline.crosseval``; nothing runs without ``sbi_detector``).
        out: the loop's output folder.
        labels: the generated dataset's ``labels.csv`` (its faces in ``faces/`` beside it).
        detector_checkpoint: the supervised detector's selected checkpoint.
        timings: stage -> seconds, added to.
        dashboard: the loop's loggers (runs ``sbi_detector``, ``study_robustness_sbi``).

    Returns:
        The numbers for ``metrics.json``: ``sbi_video_auc``, ``sbi_frame_auc``,
        ``sbi_balanced_accuracy``, ``sbi_video_log_loss``, the SBI robustness study's
        (``robustness_sbi/<key>``), the cross table's video AUCs and the calibration.
    """
    pipeline = cfg.pipeline
    if not pipeline.get("sbi_detector"):
        return {}
    from loop.report import headline_numbers as study_numbers

    data_dir = str(cfg.paths.data_dir)
    stage = out / "sbi"
    overrides = [
        *pipeline.sbi_detector,
        f"data.index={reals_outside_test(labels, stage / 'index.csv')}",
        f"data.faces_dir={labels.parent / 'faces'}",
    ]
    with timed("sbi_detector", timings):
        trained = run_train_stage("sbi_detector", overrides, stage, data_dir, dashboard)
    checkpoint = best_checkpoint(stage)
    metrics: dict[str, Any] = {key: trained.get(name) for key, name in SBI_NUMBERS.items()}

    robustness = (pipeline.studies or {}).get("robustness")
    if robustness is not None:
        study_overrides = [
            *pipeline.study_overrides,
            *robustness,
            f"scorer.checkpoint={checkpoint}",
            f"options.videos={labels}",
        ]
        with timed("study_robustness_sbi", timings):
            folder = out / "studies" / "robustness_sbi"
            summary = run_study_stage(
                "robustness", study_overrides, folder, data_dir, dashboard, "study_robustness_sbi"
            )
        metrics |= study_numbers({"robustness_sbi": summary})

    if pipeline.get("crosseval"):
        checkpoints = {"supervised": detector_checkpoint, "sbi": checkpoint}
        train_overrides = [*overrides, f"paths.data_dir={data_dir}"]
        with timed("crosseval", timings):
            result = evaluate_both(pipeline, out, labels, checkpoints, train_overrides)
        metrics |= headline_numbers(result, FOMM_SET)
    return metrics
