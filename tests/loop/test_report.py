"""The loop report reads on its own: each number with its meaning, each stage with its guide."""

import json

import pandas as pd

from loop import report_guide as guide
from loop.report import MEANINGS, write_report


def test_the_report_explains_every_stage_and_study(tmp_path):
    (tmp_path / "fakes").mkdir()
    pd.DataFrame(
        {
            "video": ["real/test/a", "fake/test/a__b"],
            "label": [0, 1],
            "split": ["test", "test"],
            "source_identity": ["a", "a"],
        }
    ).to_csv(tmp_path / "fakes" / "labels.csv", index=False)
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
