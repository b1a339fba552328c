import functools
import json
import math

import numpy as np
import pandas as pd
import pytest
from pipeline_checkpoints import write_tiny_checkpoint
from studies_media import (  # noqa: F401 (autouse fixture)
    one_torch_thread,
    tiny_scorer,
    write_index,
    write_real_and_fake,
)

from fomm.media import InputError
from loop.studies import perturbations
from loop.studies.options import StudyOptions
from loop.studies.robustness import robustness_study

PERTURBATIONS = {
    "downscale": {"fn": functools.partial(perturbations.downscale), "strengths": [1.0, 0.5]},
    "jpeg": {"fn": functools.partial(perturbations.jpeg), "strengths": [100, 20]},
    "h264": (perturbations.h264, [0, 20_000]),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("robustness")
    index = write_index(root / "index.csv", *write_real_and_fake(root))
    scorer = tiny_scorer(write_tiny_checkpoint(root / "detector.ckpt"))
    return index, scorer


def test_robustness_scores_every_video_under_every_setting(dataset, tmp_path):
    index, scorer = dataset
    options = StudyOptions(index, tmp_path, progress=False)
    table, summary = robustness_study(scorer, options, PERTURBATIONS)
    assert len(table) == 4 * (1 + 2 + 2 + 2)
    assert sorted(table["label"].unique()) == [0, 1]
    assert np.isfinite(table["score"].to_numpy(float)).all()
    assert (table["frames_scored"] == 3).all()
    # the neutral strength of every perturbation is the clean video
    for _, rows in table.groupby("video"):
        clean = rows.loc[rows["perturbation"] == "none", "score"].item()
        neutral = rows[(rows["strength_index"] == 0) & (rows["perturbation"] != "none")]
        assert np.allclose(neutral["score"], clean)
    by_setting = pd.read_csv(tmp_path / "robustness_summary.csv")
    assert by_setting["perturbation"].tolist() == ["none"] + [
        name for name in PERTURBATIONS for _ in range(2)
    ]
    assert np.isfinite(by_setting[["auc", "score_real_mean", "score_fake_mean"]]).all().all()
    assert (by_setting[["videos_real", "videos_fake"]] == 2).all().all()
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["results"] == summary["results"]
    assert all(v is not None and math.isfinite(v) for v in written["results"].values())
    for name in ("robustness.csv", "robustness_scores.png", "robustness_auc.png"):
        assert (tmp_path / name).is_file(), name


def test_a_rerun_resumes_and_other_settings_are_refused(dataset, tmp_path):
    index, scorer = dataset
    small = {"jpeg": PERTURBATIONS["jpeg"]}
    options = StudyOptions(index, tmp_path, max_videos=1, progress=False)
    robustness_study(scorer, options, small)
    _, summary = robustness_study(scorer, options, small)
    assert summary["items_resumed"] == 2 and summary["items"] == 2
    with pytest.raises(InputError, match="other settings"):
        robustness_study(scorer, options, PERTURBATIONS)


def test_bad_inputs_name_the_fix(dataset, tmp_path):
    index, scorer = dataset
    bad = {"rotate": {"fn": functools.partial(perturbations.jpeg), "strengths": [100, 0]}}
    options = StudyOptions(index, tmp_path)
    with pytest.raises(InputError, match="perturbations.rotate: strength 0"):
        robustness_study(scorer, options, bad)
    with pytest.raises(InputError, match="scorer.checkpoint"):
        robustness_study(None, options, PERTURBATIONS)
    with pytest.raises(InputError, match="no videos in split 'train'"):
        robustness_study(scorer, options, PERTURBATIONS, split="train")
    unlabelled = tmp_path / "unlabelled.csv"
    pd.read_csv(index).drop(columns="label").to_csv(unlabelled, index=False)
    with pytest.raises(InputError, match="'label' column"):
        robustness_study(scorer, StudyOptions(unlabelled, tmp_path), PERTURBATIONS)
