"""The cross-generator stage's logic: which runs it starts, the table, the report section."""

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from loop.cross_generator import (
    check_motion_model,
    cross_generator_markdown,
    cross_generator_metrics,
    cross_generator_rows,
    other_motion_model,
    run_cross_generator,
)

SCORES = {
    ("fomm", "fomm"): {"test/auc_video": 0.95, "test/auc_frame": 0.9},
    ("fomm", "tpsmm"): {"test/auc_video": 0.70, "test/auc_frame": 0.65},
    ("tpsmm", "tpsmm"): {"test/auc_video": 0.90, "test/auc_frame": 0.85},
    ("tpsmm", "fomm"): {"test/auc_video": 0.93},
}


def test_rows_measure_each_detector_against_its_own_test():
    rows = cross_generator_rows(SCORES)
    by_pair = {(r["trained_on"], r["tested_on"]): r for r in rows}
    assert [(r["trained_on"], r["tested_on"]) for r in rows] == sorted(SCORES)
    assert by_pair[("fomm", "tpsmm")]["auc_drop"] == pytest.approx(0.25)
    assert by_pair[("tpsmm", "fomm")]["auc_drop"] == pytest.approx(-0.03)
    assert (
        by_pair[("fomm", "fomm")]["auc_drop"] == 0 and by_pair[("fomm", "fomm")]["same_generator"]
    )
    assert by_pair[("tpsmm", "fomm")]["frame_auc"] is None
    assert cross_generator_metrics(rows)["cross/fomm_on_tpsmm/video_auc"] == 0.70


def test_a_missing_score_leaves_its_drop_unknown():
    rows = cross_generator_rows({("fomm", "tpsmm"): {"test/auc_video": 0.7}})
    assert rows[0]["auc_drop"] is None


def test_markdown_is_a_matrix_rows_trained_columns_tested():
    lines = cross_generator_markdown(cross_generator_rows(SCORES))
    table = [line for line in lines if line.startswith("| ")]
    assert table[0] == "| trained on \\ tested on | fomm | tpsmm |"
    assert table[2] == "| fomm | 0.950 | 0.700 |"
    assert table[3] == "| tpsmm | 0.930 | 0.900 |"
    text = "\n".join(lines)
    assert "trained on fomm, tested on tpsmm: video AUC 0.250 below its own test" in text
    assert "trained on tpsmm, tested on fomm: video AUC 0.030 above its own test" in text
    assert cross_generator_markdown([]) == []


def test_motion_models_are_checked_with_the_fix():
    assert other_motion_model("fomm") == "tpsmm" and other_motion_model("tpsmm") == "fomm"
    with pytest.raises(ValueError, match="fomm, tpsmm"):
        other_motion_model("stylegan")
    with pytest.raises(ValueError, match="no `tpsmm` stage"):
        check_motion_model("tpsmm", {"fomm": ["model=fomm_tiny"]})


def _finished_run(folder: Path) -> None:
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "checkpoints" / "best.ckpt").write_bytes(b"")
    record = {"best_model_path": "checkpoints/best.ckpt", "last_model_path": None}
    (folder / "checkpoints.json").write_text(json.dumps(record))


def test_the_stage_trains_the_other_model_and_scores_all_four_pairs(tmp_path):
    pipeline = OmegaConf.create(
        {"fomm": ["model=fomm_tiny"], "tpsmm": ["model=tpsmm_tiny"], "detector": ["model=x"]}
    )
    for folder in ("fomm", "detector"):  # the primary stages, done by the loop before
        _finished_run(tmp_path / folder)
    calls = []

    def run_stage(name, overrides, output_dir, data_dir):
        calls.append((name, list(overrides), output_dir))
        _finished_run(output_dir)
        trained = {"tpsmm": "tpsmm", "detector_tpsmm": "tpsmm", "detector": "fomm"}.get(name)
        if name.startswith("cross_"):
            trained, tested = name[len("cross_") :].split("_on_")
            return {"test/auc_video": 0.6 if trained != tested else 1.0}
        return {"test/auc_video": 0.9, "test/l1": 0.1} if trained else {}

    rows = run_cross_generator("fomm", pipeline, tmp_path, "data", run_stage)
    names = [name for name, _, _ in calls]
    assert names == [
        "tpsmm",
        "detector_tpsmm",
        "detector",
        "cross_fomm_on_tpsmm",
        "cross_tpsmm_on_fomm",
    ]
    overrides = {name: args for name, args, _ in calls}
    assert overrides["tpsmm"] == ["model=tpsmm_tiny"]
    tpsmm_model = tmp_path / "tpsmm" / "checkpoints" / "best.ckpt"
    assert f"data.index.checkpoint={tpsmm_model}" in overrides["detector_tpsmm"]
    assert f"data.index.output={tmp_path / 'fakes_tpsmm'}" in overrides["detector_tpsmm"]
    # The FOMM-trained detector, tested (only) on the TPSMM fakes.
    scored = overrides["cross_fomm_on_tpsmm"]
    assert "train=false" in scored
    assert f"ckpt_path={tmp_path / 'detector' / 'checkpoints' / 'best.ckpt'}" in scored
    assert f"data.index.output={tmp_path / 'fakes_tpsmm'}" in scored
    assert {(r["trained_on"], r["tested_on"]): r["video_auc"] for r in rows} == {
        ("fomm", "fomm"): 0.9,
        ("fomm", "tpsmm"): 0.6,
        ("tpsmm", "fomm"): 0.6,
        ("tpsmm", "tpsmm"): 0.9,
    }
