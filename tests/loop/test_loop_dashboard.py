"""One dashboard for a loop: every stage gets the loop's loggers; the report run, read back."""

import csv
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from wandb_records import logged, run_dirs, run_info

from datamodules.video_writer import write_video
from loop.dashboard import LoopDashboard, headline_scalars
from loop.run import CONF_DIR


def composed(loop_overrides, out):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        loop = compose("loop", overrides=[*loop_overrides, f"output_dir={out}"])
        stage = compose("train", overrides=[*loop.pipeline.fomm, f"paths.output_dir={out}/fomm"])
        study = compose("studies", overrides=["study=pose", f"paths.output_dir={out}/studies/pose"])
    GlobalHydra.instance().clear()
    return loop, stage, study


def test_every_stage_logs_to_the_loops_loggers_in_one_group(tmp_path):
    out = tmp_path / "2026-11-30_10-00-00"
    loop, stage, study = composed([], out)
    dashboard = LoopDashboard.from_config(loop, out)
    assert dashboard.group == "loop-2026-11-30_10-00-00"  # a resumed loop keeps its group
    fomm = OmegaConf.to_container(dashboard.stage(stage, "fomm").logger, resolve=True)
    assert set(fomm) == {"wandb", "csv"}
    assert (fomm["wandb"]["group"], fomm["wandb"]["name"], fomm["wandb"]["job_type"]) == (
        "loop-2026-11-30_10-00-00",
        "fomm",
        "fomm",
    )
    # Each stage's logger files stay in its own folder.
    assert fomm["wandb"]["save_dir"] == fomm["csv"]["save_dir"] == f"{out}/fomm"
    pose = OmegaConf.to_container(dashboard.stage(study, "study_pose").logger, resolve=True)
    assert (
        pose["wandb"]["name"] == "study_pose" and pose["csv"]["save_dir"] == f"{out}/studies/pose"
    )

    named, stage, _ = composed(["logger=csv", "dashboard.group=mine"], out)
    only_csv = LoopDashboard.from_config(named, out)
    assert only_csv.group == "mine" and list(dashboard.stage(stage, "x").logger) == ["wandb", "csv"]
    assert list(only_csv.stage(stage, "fomm").logger) == ["csv"]
    off, stage, _ = composed(["logger=[]"], out)
    assert not LoopDashboard.from_config(off, out).stage(stage, "fomm").logger


def fake_report(out: Path) -> tuple[Path, dict]:
    (out / "studies" / "bitrate").mkdir(parents=True)
    import cv2

    plot = out / "studies" / "bitrate" / "l1_by_bitrate.png"
    cv2.imwrite(str(plot), np.full((20, 30, 3), 128, np.uint8))
    report = out / "report.md"
    report.write_text(f"# r\n\n![bitrate: l1_by_bitrate]({plot.relative_to(out)})\n")
    write_video(out / "animation.side_by_side.mp4", np.zeros((3, 16, 48, 3), np.uint8), fps=4)
    return report, {"side_by_side": "animation.side_by_side.mp4"}


def test_the_report_run_carries_numbers_table_plots_and_the_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "loop"
    loop, _, _ = composed([], out)
    report, animation = fake_report(out)
    metrics = {"video_auc": 0.75, "frame_auc": None, "seconds": {"fomm": 12.5}, "note": "x"}
    LoopDashboard.from_config(loop, out).log_report(out, metrics, report, animation, ["loop"])

    (run,) = run_dirs(out)
    assert run_info(run) == {"group": "loop-loop", "name": "report", "job_type": "report"}
    values = logged(run)
    assert values["loop/video_auc"] == 0.75 and values["loop/seconds/fomm"] == 12.5
    assert "loop/frame_auc" not in values  # a missing number is not logged as 0 or NaN
    assert values["loop/headline"]["_type"] == "table-file"
    image = values["report/bitrate/l1_by_bitrate"]
    assert image["_type"] == "images/separated" and image["count"] == 1
    (video,) = values["report/sample_animation"]["videos"]
    assert (run / "files" / video["path"]).is_file()
    with (out / "csv" / "metrics.csv").open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["loop/video_auc"]) == 0.75


def test_headline_scalars_keep_finite_numbers_only():
    metrics = {"a": 1, "b": float("nan"), "c": True, "d": {"e": 2.5}, "f": None}
    assert headline_scalars(metrics) == {"loop/a": 1.0, "loop/d/e": 2.5}
