"""The loop between the two papers, end to end, in one command.

1. Train a motion model: FOMM, or TPSMM with ``motion_model=tpsmm`` (``train.py`` with
   the pipeline's overrides for it).
2. Make deepfakes with it: every real video's identity reenacted by another identity of
   the same split (``data=fomm_fakes`` generates them on first use).
3. Train a detector on real versus generated videos, test it on held-out identities.
4. Stress both: bitrate, pose-mismatch, occlusion and robustness studies.
5. Train a second detector on self-blended real faces only, stress it, and put both
   detectors side by side on the loop's test sets, calibrated (:mod:`loop.sbi_stage`).
6. Write a report folder: ``report.md``, ``metrics.json``, PNG plots, a sample animation.

``cross_generator=true`` adds the other motion model, its fakes and detector, and each
detector scored on the other generator's fakes (:mod:`loop.cross_generator`), and runs
the occlusion study with the other model too: FOMM's one occlusion map against TPSMM's
multi-resolution masks on the same videos (:mod:`loop.occlusion_comparison`).

``make run`` runs it on the embedded talking heads on the CPU (``pipeline=embedded``);
``pipeline=vox`` is the same loop at full size on VoxCeleb. Each stage leaves its outputs
in its own folder and is skipped when they are already there, so a killed loop resumes
with ``python -m loop output_dir=<the killed run's folder>``: a training stage
killed midway continues from its last checkpoint, and each stage hands on the checkpoint
its checkpoint callback selected (``checkpoints.json``), never a file found by name.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from datamodules.training.selection import best_checkpoint
from loop.cross_generator import check_motion_model, cross_generator_metrics, run_cross_generator
from loop.dashboard import LoopDashboard
from loop.occlusion_comparison import occlusion_comparison_metrics, run_occlusion_comparison

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@contextmanager
def timed(stage: str, timings: dict[str, float]) -> Iterator[None]:
    """Record how long a stage took (the report lists them against the time budget)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - start, 1)
        log.info("stage %s took %.1f s", stage, timings[stage])


def compose_config(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """Compose a primary config of ``conf/`` as its command line would.

    Why a compose rather than a subprocess: the loop runs in one process, so the ~7 s
    import of the stack is paid once, and every stage is exactly what its command does.
    """
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides))


def run_train_stage(
    name: str,
    overrides: Sequence[str],
    output_dir: Path,
    data_dir: str,
    dashboard: LoopDashboard | None = None,
) -> dict[str, float]:
    """``python train.py <overrides>`` into ``output_dir``, unless it finished before.

    With a ``dashboard`` the stage logs to the loop's loggers (its own otherwise).

    A stage counts as finished when its ``metrics.json`` exists (train() writes it last).
    A stage killed before that resumes from its own ``checkpoints/last.ckpt`` (saved
    every few hundred steps and on a crash), at the step it had reached.
    """
    metrics_file = output_dir / "metrics.json"
    if metrics_file.is_file():
        log.info("stage %s already done in %s; reusing it", name, output_dir)
    else:
        import train  # the project's entry point; imported here to keep this module light

        overrides = [*overrides, f"paths.output_dir={output_dir}", f"paths.data_dir={data_dir}"]
        last = output_dir / "checkpoints" / "last.ckpt"
        if last.is_file():
            log.info("stage %s was interrupted; resuming it from %s", name, last)
            overrides.append(f"ckpt_path={last}")
        cfg = compose_config("train", overrides)
        train.train(dashboard.stage(cfg, name) if dashboard else cfg)
    return json.loads(metrics_file.read_text())


def run_study_stage(
    name: str,
    overrides: Sequence[str],
    output_dir: Path,
    data_dir: str,
    dashboard: LoopDashboard | None = None,
    run_name: str | None = None,
) -> dict[str, Any]:
    """``python -m loop.studies study=<name> <overrides>`` into ``output_dir``.

    A study counts as finished when its ``summary.json`` exists (it is written last).
    ``run_name`` names its dashboard run (default ``study_<name>``).
    """
    summary_file = output_dir / "summary.json"
    if not summary_file.is_file():
        from loop.studies.__main__ import run_study

        overrides = [
            f"study={name}",
            *overrides,
            f"paths.output_dir={output_dir}",
            f"paths.data_dir={data_dir}",
        ]
        cfg = compose_config("studies", overrides)
        run_study(dashboard.stage(cfg, run_name or f"study_{name}") if dashboard else cfg)
    return json.loads(summary_file.read_text())


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN: a missing number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_loop(cfg: DictConfig) -> dict[str, Any]:
    """Run every stage of the loop and write the report folder.

    Args:
        cfg: the composed ``conf/loop.yaml``.

    Returns:
        The numbers written to ``metrics.json``.
    """
    from loop.report import headline_numbers, sample_animation, write_report
    from loop.sbi_stage import run_sbi_stages

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipeline = cfg.pipeline
    data_dir = str(cfg.paths.data_dir)
    timings: dict[str, float] = {}
    dashboard = LoopDashboard.from_config(cfg, out)

    motion = str(cfg.get("motion_model", "fomm"))
    check_motion_model(motion, pipeline)
    with timed(motion, timings):
        fomm_metrics = run_train_stage(motion, pipeline[motion], out / motion, data_dir, dashboard)
    fomm_checkpoint = best_checkpoint(out / motion)

    # The detector's data config generates the deepfakes from this checkpoint on first use.
    detector_overrides = [
        *pipeline.detector,
        f"data.index.checkpoint={fomm_checkpoint}",
        f"data.index.output={out / 'fakes'}",
    ]
    with timed("fakes_and_detector", timings):
        detector_metrics = run_train_stage(
            "detector", detector_overrides, out / "detector", data_dir, dashboard
        )
    detector_checkpoint = best_checkpoint(out / "detector")
    labels = out / "fakes" / "labels.csv"

    with timed("animation", timings):
        animation = sample_animation(labels, fomm_checkpoint, out / "animation.mp4")

    studies: dict[str, dict[str, Any]] = {}
    study_settings: dict[str, list[str]] = {}  # each study's overrides but the motion model
    for name, overrides in (pipeline.studies or {}).items():
        study_settings[name] = [
            *pipeline.study_overrides,
            *overrides,
            f"scorer.checkpoint={detector_checkpoint}",
        ]
        if name == "robustness":
            study_settings[name].append(f"options.videos={labels}")
        with timed(f"study_{name}", timings):
            studies[name] = run_study_stage(
                name,
                [*study_settings[name], f"fomm.checkpoint={fomm_checkpoint}"],
                out / "studies" / name,
                data_dir,
                dashboard,
            )

    cross: dict[str, Any] = {}
    if cfg.get("cross_generator"):
        with timed("cross_generator", timings):
            rows = run_cross_generator(motion, pipeline, out, data_dir, run_train_stage)
        (out / "cross_generator.json").write_text(json.dumps(rows, indent=2))
        cross = cross_generator_metrics(rows)
        if "occlusion" in studies:
            with timed("occlusion_comparison", timings):
                compared = run_occlusion_comparison(
                    motion,
                    studies["occlusion"],
                    study_settings["occlusion"],
                    out,
                    partial(run_study_stage, data_dir=data_dir, dashboard=dashboard),
                )
            cross |= occlusion_comparison_metrics(compared)

    sbi_metrics = run_sbi_stages(cfg, out, labels, detector_checkpoint, timings, dashboard)

    metrics = {
        "motion_model": motion,
        "video_auc": detector_metrics.get("test/auc_video"),
        "frame_auc": detector_metrics.get("test/auc_frame"),
        "video_balanced_accuracy": detector_metrics.get("test/bacc_video"),
        "video_log_loss": detector_metrics.get("test/logloss_video"),
        "reconstruction_l1": fomm_metrics.get("test/l1"),
        "reconstruction_l1_no_motion": fomm_metrics.get("test/l1_no_motion"),
        "reconstruction_l1_frozen_keypoints": fomm_metrics.get("test/l1_frozen_keypoints"),
        "fomm_val_l1": fomm_metrics.get("val/l1"),
        **headline_numbers(studies),
        **cross,
        **sbi_metrics,
    }
    metrics = {key: finite_or_none(value) for key, value in metrics.items()}
    metrics["seconds"] = timings
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    report = write_report(
        out, metrics, studies, animation, OmegaConf.to_container(pipeline, resolve=True)
    )
    log.info("Report: %s", report)
    dashboard.log_report(out, metrics, report, animation, cfg.get("tags"))
    print(f"\nThe loop is done. Report: {report}\nEverything it wrote: {out}")
    return metrics
