"""FOMM's occlusion map against TPSMM's masks: the rows, the headline numbers, the stage."""

import json
import math

import pandas as pd
import pytest

from loop.occlusion_comparison import (
    COLUMNS,
    occlusion_comparison_markdown,
    occlusion_comparison_meanings,
    occlusion_comparison_metrics,
    occlusion_comparison_rows,
    run_occlusion_comparison,
)


def _measure(measure, mask, auc, mean=0.3, spearman=0.2):
    kind = "occlusion_mean" if measure.startswith("occlusion_mean") else "occluded_fraction"
    return {
        "measure": measure, "mask": mask, "kind": kind, "frames": 48, "mean": mean,
        "pearson_l1": 0.1, "spearman_l1": spearman, "pearson_true": 0.4, "auc_true": auc,
        "mean_covered": 0.5, "mean_clean": 0.2,
    }  # fmt: skip


SUMMARIES = {
    "fomm": {
        "measures": [
            _measure("occluded_fraction", "output", None),
            _measure("occlusion_mean", "output", 0.61, mean=0.12),
        ]
    },
    "tpsmm": {
        "measures": [
            _measure("occluded_fraction", "output", 0.55),
            _measure("occlusion_mean", "output", 0.58),
            _measure("occlusion_mean_level0", "level0", 0.83),
            _measure("occlusion_mean_combined", "combined", 0.72, mean=0.4),
        ]
    },
}


def test_rows_hold_every_measure_of_each_model_in_order():
    rows = occlusion_comparison_rows(SUMMARIES)
    assert [(r["model"], r["measure"]) for r in rows] == [
        ("fomm", "occluded_fraction"),
        ("fomm", "occlusion_mean"),
        ("tpsmm", "occluded_fraction"),
        ("tpsmm", "occlusion_mean"),
        ("tpsmm", "occlusion_mean_level0"),
        ("tpsmm", "occlusion_mean_combined"),
    ]
    assert all(list(row) == COLUMNS for row in rows)
    assert rows[0]["auc_true"] is None and rows[1]["mean"] == 0.12
    assert rows[5]["mask"] == "combined" and rows[5]["mean"] == 0.4
    assert occlusion_comparison_rows({"fomm": {"results": {}}}) == []


def test_headline_numbers_are_each_models_soft_output_measure_and_tpsmms_combined():
    metrics = occlusion_comparison_metrics(occlusion_comparison_rows(SUMMARIES))
    assert metrics == {
        "occlusion_auc_fomm": 0.61,
        "occlusion_auc_tpsmm": 0.58,
        "occlusion_auc_tpsmm_combined": 0.72,
    }
    assert all("/" not in key for key in metrics)
    nan_row = [{"model": "fomm", "measure": "occlusion_mean", "auc_true": math.nan}]
    assert occlusion_comparison_metrics(nan_row) == {"occlusion_auc_fomm": None}
    meanings = occlusion_comparison_meanings(metrics | {"video_auc": 0.9})
    assert set(meanings) == set(metrics)
    assert "finest occlusion mask" in meanings["occlusion_auc_tpsmm"]
    assert "every resolution combined" in meanings["occlusion_auc_tpsmm_combined"]


def test_markdown_lists_every_measure_and_each_models_best():
    lines = occlusion_comparison_markdown(occlusion_comparison_rows(SUMMARIES))
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 2 + 6
    assert (
        table[2]
        == "| fomm | output | occluded_fraction | 0.300 | n/a | 0.400 | 0.200 | 0.500 / 0.200 |"
    )
    assert table[7].startswith("| tpsmm | combined | occlusion_mean | 0.400 | 0.720 |")
    text = "\n".join(lines)
    assert "- fomm: best finder of covered faces `occlusion_mean`, AUC 0.610" in text
    assert "- tpsmm: best finder of covered faces `occlusion_mean_level0`, AUC 0.830" in text
    unknown = [_measure("occlusion_mean", "output", None) | {"model": "fomm"}]
    assert "- fomm: no AUC" in "\n".join(occlusion_comparison_markdown(unknown))
    assert occlusion_comparison_markdown([]) == []


def test_the_stage_studies_the_other_model_with_the_same_settings(tmp_path):
    (tmp_path / "tpsmm" / "checkpoints").mkdir(parents=True)
    (tmp_path / "tpsmm" / "checkpoints" / "best.ckpt").write_bytes(b"")
    record = {"best_model_path": "checkpoints/best.ckpt", "last_model_path": None}
    (tmp_path / "tpsmm" / "checkpoints.json").write_text(json.dumps(record))
    (tmp_path / "studies").mkdir()
    calls = []

    def run_study(study, overrides, folder, run_name):
        calls.append((study, list(overrides), folder, run_name))
        return SUMMARIES["tpsmm"]

    settings = ["options.max_videos=8", "study.events_csv=events.csv"]
    rows = run_occlusion_comparison("fomm", SUMMARIES["fomm"], settings, tmp_path, run_study)
    checkpoint = tmp_path / "tpsmm" / "checkpoints" / "best.ckpt"
    assert calls == [
        (
            "occlusion",
            [*settings, f"fomm.checkpoint={checkpoint}"],
            tmp_path / "studies" / "occlusion_tpsmm",
            "study_occlusion_tpsmm",
        )
    ]
    written = pd.read_csv(tmp_path / "studies" / "occlusion_comparison.csv")
    assert list(written.columns) == COLUMNS
    assert list(written["model"]) == ["fomm"] * 2 + ["tpsmm"] * 4
    assert written["auc_true"].tolist()[1:] == pytest.approx([r["auc_true"] for r in rows][1:])
    assert math.isnan(written["auc_true"].iloc[0])
