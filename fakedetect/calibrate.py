r"""Calibrate any detector on validation videos: ``python -m fakedetect.calibrate``.

For weights that were not trained here (the paper's ``.pth``), or a checkpoint to
recalibrate on other validation data::

    python -m fakedetect.calibrate checkpoint=EfficientNetAutoAttB4_DFDC.pth \\
        videos=dfdc_index.csv split=val

scores the validation videos with the standard protocol (through crosseval's caches, so
the faces and logits are reused by later ``crosseval`` runs), fits the map
(:func:`fakedetect.calibration.fit_calibration`: Platt by default, ``method=temperature``
for a temperature only) and writes it beside the weights as
``<weights>.calibration.json``, which ``fakedetect.predict`` and ``fakedetect.crosseval``
then apply. The run folder gets ``calibration.json`` (the same record) and
``reliability.png`` (before and after). The test split is refused: a map fitted there
would make every later test number optimistic.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from scipy.special import expit

from datamodules.command_errors import exit_on_user_error
from datamodules.plain import plain_container
from fakedetect.calibration import Calibration, fit_calibration
from fakedetect.calibration_store import describe, write_sidecar
from fakedetect.crosseval.scoring import ScoringOptions, SetScorer, detector_tables
from fakedetect.crosseval.specs import detector_specs, load_eval_set
from fakedetect.reliability import DEFAULT_BINS, plot_reliability

log = logging.getLogger(__name__)


def calibrate_weights(
    checkpoint: str | os.PathLike,
    videos: Any,
    output_dir: str | os.PathLike,
    architecture: str | None = None,
    split: str | None = "val",
    method: str = "platt",
    level: str = "video",
    balanced: bool = True,
    cache_dir: str | os.PathLike | None = None,
    faces: Mapping[str, Any] | None = None,
    options: ScoringOptions | None = None,
    max_videos: int | None = None,
    bins: int = DEFAULT_BINS,
) -> Calibration:
    """Fit a calibration on a weights file's validation videos and write its sidecar.

    Args:
        checkpoint: one weights file (our ``.ckpt`` or the paper's ``.pth``).
        videos: a video index CSV or a folder with ``labels.csv`` (any test-set form of
            :func:`fakedetect.crosseval.specs.load_eval_set`).
        output_dir: where ``calibration.json`` and ``reliability.png`` go.
        architecture: the official architecture of ``.pth`` weights (None: inferred).
        split: the validation split; null takes every video (only for an index that
            holds validation videos alone).
        method: ``platt`` or ``temperature``.
        level: fit on ``video`` mean logits or ``frame`` logits.
        balanced: weigh real and fake equally.
        cache_dir: crosseval's cache (default ``output_dir/cache``).
        faces: the face protocol (crosseval's ``faces``).
        options: how the network runs.
        max_videos: at most this many videos per label.
        bins: reliability bins.

    Raises:
        ValueError: ``split=test``, an index without splits and ``split`` given, or
            validation videos of one class only.
    """
    if split == "test":
        raise ValueError("split=test: a calibration is fitted on validation videos, never test.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec = {"checkpoint": {"path": str(checkpoint), "architecture": architecture}}
    detector = detector_specs({"detector": spec})[0]
    source = {"folder" if Path(str(videos)).is_dir() else "index": videos, "split": split}
    eval_set = load_eval_set("validation", {**source, "max_videos": max_videos})
    if split and eval_set.split is None:
        raise ValueError(
            f"videos={videos} has no split column, so its validation videos are unknown; "
            "give an index with splits, or split=null if every video in it is for validation."
        )
    scorer = SetScorer(cache_dir or output_dir / "cache", options or ScoringOptions(), faces)
    videos_table, frames = detector_tables(
        detector, eval_set, scorer.score_set(eval_set, [detector])
    )
    scored = videos_table[videos_table["status"] == "ok"]
    table = scored if level == "video" else frames
    where = f"{split or 'all'} split of {eval_set.source}"
    calibration = fit_calibration(
        table["logit"].to_numpy(np.float64),
        table["label"].to_numpy(np.float64),
        method,
        level,
        balanced,
        fitted_on=where,
        bins=bins,
    )
    sidecar = write_sidecar(checkpoint, calibration)
    (output_dir / "calibration.json").write_text(json.dumps(calibration.to_dict(), indent=2))
    logits, labels = scored["logit"].to_numpy(np.float64), scored["label"].to_numpy()
    curves = {
        "raw": (expit(logits), labels),
        "calibrated": (calibration.probability(logits), labels),
    }
    plot_reliability({where: curves}, output_dir / "reliability.png", Path(checkpoint).name, bins)
    log.info("Calibration %s written to %s", describe(calibration), sidecar)
    skipped = len(videos_table) - len(scored)
    if skipped:
        log.warning("%d validation videos had no face or could not be read; not used", skipped)
    return calibration


@hydra.main(version_base="1.3", config_path="../conf", config_name="calibrate")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m fakedetect.calibrate checkpoint=W videos=INDEX [split=val] [...]``."""
    if not cfg.get("checkpoint") or not cfg.get("videos"):
        raise ValueError("Give checkpoint=WEIGHTS and videos=INDEX (with a val split) or DIR.")
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    calibration = calibrate_weights(
        cfg.checkpoint,
        cfg.videos,
        cfg.output_dir,
        architecture=cfg.architecture,
        split=cfg.split,
        method=cfg.method,
        level=cfg.level,
        balanced=cfg.balanced,
        cache_dir=cfg.cache_dir,
        faces=plain_container(cfg.faces),
        options=ScoringOptions.from_config(cfg),
        max_videos=cfg.max_videos,
        bins=cfg.bins,
    )
    before, after = calibration.before, calibration.after
    print(f"Calibration of {cfg.checkpoint}: {describe(calibration)}")
    for name in ("ece", "nll", "bacc"):
        print(f"  {name:5s} before {before[name]:.4f}  after {after[name]:.4f}")


if __name__ == "__main__":
    main()
