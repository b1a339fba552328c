"""The loop report reads on its own: each number with its meaning, each stage with its guide."""

import json

import pandas as pd

from loop import report_guide as guide
from loop.occlusion_comparison import COLUMNS
from loop.report import MEANINGS, write_report


def _write_labels(tmp_path):
    (tmp_path / "fakes").mkdir()
    pd.DataFrame(
        {
            "video": ["real/test/a", "fake/test/a__b"],
            "label": [0, 1],
            "split": ["test", "test"],
            "source_identity": ["a", "a"],
        }
    ).to_csv(tmp_path / "fakes" / "labels.csv", index=False)


def test_the_report_explains_every_stage_and_study(tmp_path):
    _write_labels(tmp_path)
    studies = {}
    for name in guide.STUDIES:
        folder = tmp_path / "studies" / name
        folder.mkdir(parents=True)
        studies[name] = {"results": {f"{name}_number": 0.25}, "notes": [f"{name} note"]}
        (folder / "summary.json").write_text(json.dumps(studies[name]))
    metrics = {key: 0.5 for key in MEANINGS} | {"seconds": {"fomm": 60.0}}
    metrics |= {"reconstruction_l1": 0.03, "reconstruction_l1_no_motion": 0.04}
    report = write_report(tmp_path, metrics, studies, None, {"fomm": ["model=fomm_tiny"]})
    text = report.read_text()
    for paragraph in (guide.FOMM, guide.FAKES, guide.DETECTOR, *guide.STUDIES.values()):
        assert paragraph in text
    for name in guide.STUDIES:
        section = text.split(f"### {name}")[1].split("###")[0]
        assert guide.STUDIES[name] in section and f"| `{name}_number` | 0.25 |" in section
    assert "| `video_auc` | 0.5 | detector AUC over test videos" in text
    # The FOMM reading compares the model with both baselines, in words.
    assert "its keypoints transfer motion" in text and "the model beats it" in text
    assert "Occlusion maps" not in text and "occlusion_auc_" not in text


def test_the_report_compares_the_two_models_occlusion_maps(tmp_path):
    _write_labels(tmp_path)
    (tmp_path / "studies").mkdir()
    scores = [0.2, 0.3, 0.4]  # pearson_l1, spearman_l1, pearson_true
    rows = [  # model, measure, mask, kind, frames, mean, ..., auc_true, mean_covered, mean_clean
        ["fomm", "occlusion_mean", "output", "occlusion_mean", 40, 0.1, *scores, 0.65, 0.2, 0.1],
        ["tpsmm", "occlusion_mean", "output", "occlusion_mean", 40, 0.2, *scores, None, 0.3, 0.1],
        ["tpsmm", "occlusion_mean_combined", "combined", "occlusion_mean", 40, 0.3, *scores, 0.8]
        + [0.3, 0.1],
    ]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(
        tmp_path / "studies" / "occlusion_comparison.csv", index=False
    )
    metrics = {key: 0.5 for key in MEANINGS} | {"seconds": {"fomm": 60.0}}
    metrics |= {"occlusion_auc_fomm": 0.65, "occlusion_auc_tpsmm": None}
    text = write_report(tmp_path, metrics, {}, None, {}).read_text()
    section = text.split("## Occlusion maps")[1].split("\n## ")[0]
    assert guide.OCCLUSION_COMPARISON in section
    assert "| fomm | output | occlusion_mean | 0.100 | 0.650 |" in section
    assert "| tpsmm | output | occlusion_mean | 0.200 | n/a |" in section
    assert "- tpsmm: best finder of covered faces `occlusion_mean_combined`, AUC 0.800" in section
    assert "(studies/occlusion_comparison.csv)" in section
    headline = text.split("## Headline numbers")[1].split("\n## ")[0]
    assert "| `occlusion_auc_fomm` | 0.65 | fomm: AUC of its occlusion map" in headline
    assert "| `occlusion_auc_tpsmm` | n/a | tpsmm: AUC of its finest occlusion mask" in headline
