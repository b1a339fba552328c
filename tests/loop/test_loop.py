"""The whole loop (`make run`) on a shrunken embedded dataset: report, finite numbers, resume."""

import json
import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from wandb_records import logged, run_dirs, run_info

from datamodules.video_io import read_video
from loop.report import headline_numbers
from loop.run import CONF_DIR, best_checkpoint, run_loop, run_train_stage

# Appended to the embedded pipeline's own overrides: later overrides win, so this is the
# same pipeline with fewer identities, frames and steps.
SMALL_DATA = [
    "data.train_identities=6",
    "data.test_identities=2",
    "data.train_videos_per_identity=1",
    "data.test_videos_per_identity=1",
    "data.val_identities=2",
    "data.val_videos_per_identity=1",
    "data.num_frames=16",
]
SHRINK = {
    "fomm": [
        *SMALL_DATA,
        "data.num_repeats=2",
        "data.num_workers=0",
        "data.batch_size=4",
        "data.val_max_videos=1",
        "data.val_max_frames=4",
        "data.test_max_frames=8",
        "trainer.max_steps=4",
        "trainer.log_every_n_steps=1",
    ],
    "detector": [
        "model.net.backbone=test_efficientnet",
        "model.max_steps=4",
        "model.val_every_n_steps=2",
        "data.extract.frames_per_video=4",
        "data.index.max_frames=8",
        "data.batch_size=8",
        "data.eval_batch_size=16",
    ],
    "study_overrides": ["scorer.frames_per_video=4"],
    "studies": ["options.max_videos=1", "options.max_frames=8"],
}


def compose_small_loop(make_cfg, output_dir: Path, data_dir: Path):
    cfg = make_cfg([f"output_dir={output_dir}", f"paths.data_dir={data_dir}"], config_name="loop")
    with open_dict(cfg):
        pipeline = cfg.pipeline
        pipeline.fomm = [*pipeline.fomm, *SHRINK["fomm"]]
        pipeline.detector = [*pipeline.detector, *SHRINK["detector"]]
        pipeline.study_overrides = [*pipeline.study_overrides, *SHRINK["study_overrides"]]
        for name in pipeline.studies:
            pipeline.studies[name] = [*pipeline.studies[name], *SHRINK["studies"]]
    return cfg


@pytest.mark.slow
def test_the_loop_writes_a_report_with_finite_numbers_and_resumes(make_cfg, tmp_path):
    out = tmp_path / "loop"
    cfg = compose_small_loop(make_cfg, out, tmp_path / "data")
    metrics = run_loop(cfg)

    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    baselines = ("reconstruction_l1_no_motion", "reconstruction_l1_frozen_keypoints")
    for key in ("video_auc", "reconstruction_l1", *baselines):
        assert isinstance(saved[key], float) and math.isfinite(saved[key]), key
    assert 0.0 <= saved["video_auc"] <= 1.0
    assert set(saved["seconds"]) >= {"fomm", "fakes_and_detector", "study_robustness"}

    report = (out / "report.md").read_text()
    assert "## Headline numbers" in report
    assert f"| `video_auc` | {saved['video_auc']:.4g} |" in report
    # Every plot the report shows exists, and each study drew at least one.
    linked_pngs = [
        line.split("](")[1].split(")")[0] for line in report.splitlines() if "![" in line
    ]
    assert linked_pngs and all((out / png).is_file() for png in linked_pngs)
    for study in cfg.pipeline.studies:
        assert any(png.startswith(f"studies/{study}/") for png in linked_pngs), study

    animation = read_video(out / "animation.mp4")
    side_by_side = read_video(out / "animation.side_by_side.mp4")
    assert len(animation) == len(side_by_side) > 1
    assert side_by_side.shape[2] == 3 * animation.shape[2]

    # One dashboard: every stage's run and the report run in the loop's wandb group.
    runs = {run_info(run)["name"]: run for run in run_dirs(out)}
    studies = {f"study_{name}" for name in cfg.pipeline.studies}
    assert set(runs) == {"fomm", "detector", "report", *studies}
    assert {run_info(run)["group"] for run in runs.values()} == {f"loop-{out.name}"}
    assert "val/sample_animation" in logged(runs["fomm"])
    assert {"val/roc", "val/score_histogram", "val/attention"} <= set(logged(runs["detector"]))
    assert "robustness/by_setting" in logged(runs["study_robustness"])
    assert {"loop/video_auc", "report/sample_animation"} <= set(logged(runs["report"]))

    # Rerunning into the same folder reuses every finished stage.
    stage_files = [out / "fomm" / "metrics.json", out / "detector" / "metrics.json"]
    stage_files += [out / "studies" / name / "summary.json" for name in cfg.pipeline.studies]
    before = {path: path.stat().st_mtime_ns for path in stage_files}
    rerun = run_loop(compose_small_loop(make_cfg, out, tmp_path / "data"))
    assert {path: path.stat().st_mtime_ns for path in stage_files} == before
    assert rerun["video_auc"] == saved["video_auc"]


@pytest.mark.slow
def test_a_killed_training_stage_resumes_and_hands_on_its_recorded_best(make_cfg, tmp_path):
    """Killed after its last checkpoint, with a stale best-*.ckpt that sorts last by name."""
    make_cfg([f"output_dir={tmp_path}"], config_name="loop")  # inside the loop's Hydra run
    stage = tmp_path / "fomm"
    record = tmp_path / "steps.json"
    overrides = [
        "model=fomm_tiny",
        "data=embedded",
        *SMALL_DATA,
        "data.num_workers=0",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "trainer.num_sanity_val_steps=0",
        "test=false",
        "+callbacks.recorder._target_=test_train_runs.StepRecorder",
        f"+callbacks.recorder.path={record}",
    ]
    data_dir = str(tmp_path / "data")
    run_train_stage("fomm", [*overrides, "trainer.max_epochs=2"], stage, data_dir)
    assert json.loads(record.read_text())["end_step"] == 2
    first_best = best_checkpoint(stage)
    assert first_best.name.startswith("best-epoch") and first_best.parent == stage / "checkpoints"

    # The kill: no metrics.json (the stage never finished), and a best file of an earlier
    # attempt whose name sorts after any this run writes.
    (stage / "metrics.json").unlink()
    (stage / "checkpoints.json").unlink()
    stale = stage / "checkpoints" / "best-epoch999-step999999.ckpt"
    stale.write_bytes(first_best.read_bytes())
    run_train_stage("fomm", [*overrides, "trainer.max_epochs=4"], stage, data_dir)
    resumed = json.loads(record.read_text())
    assert resumed["start_step"] == 2 and resumed["end_step"] == 4  # not from scratch

    recorded = json.loads((stage / "checkpoints.json").read_text())
    assert best_checkpoint(stage) == stage / recorded["best_model_path"] != stale
    assert best_checkpoint(stage).is_file() and recorded["best_model_score"] is not None


def test_headline_numbers_are_named_by_study_and_keep_missing_values():
    studies = {
        "bitrate": {"results": {"l1_110k": 0.05, "note": "text", "auc_8m": None}},
        "pose": {"results": {"frontal_l1": 1}},
    }
    assert headline_numbers(studies) == {
        "bitrate/l1_110k": 0.05,
        "bitrate/auc_8m": None,
        "pose/frontal_l1": 1.0,
    }


@pytest.mark.parametrize("pipeline", ["embedded", "vox"])
def test_every_stage_of_a_pipeline_composes(pipeline, tmp_path):
    """What each stage would run resolves, so a typo fails here and not an hour in."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loop = compose(
            "loop",
            overrides=[
                f"pipeline={pipeline}",
                f"output_dir={tmp_path}",
                f"paths.data_dir={tmp_path}",
            ],
        )
        stages = {
            "fomm": compose("train", overrides=list(loop.pipeline.fomm)),
            "detector": compose(
                "train",
                overrides=[*loop.pipeline.detector, f"data.index.checkpoint={tmp_path}/f.ckpt"],
            ),
        }
        for name, overrides in loop.pipeline.studies.items():
            stages[name] = compose(
                "studies",
                overrides=[f"study={name}", *loop.pipeline.study_overrides, *overrides],
            )
    assert stages["fomm"].model._target_ == "fomm.module.FOMMLitModule"
    assert stages["detector"].data.index._target_ == "loop.fakes.generate.fomm_fakes_index"
    assert set(loop.pipeline.studies) == {"bitrate", "pose", "occlusion", "robustness"}
    for name in loop.pipeline.studies:
        assert stages[name].study._target_.startswith(f"loop.studies.{name}.")
