import json
import math

import numpy as np
import pandas as pd
import pytest
from studies_media import one_torch_thread, tiny_fomm, write_videos  # noqa: F401 (autouse fixture)

from datamodules.synthetic_occlusion_events import video_events
from datamodules.synthetic_videos import split_plans
from fomm.media import InputError
from loop.studies.occlusion import occlusion_study, partial_correlation
from loop.studies.options import StudyOptions
from loop.studies.report import binned_means, correlations


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("occlusion_videos")
    write_videos(folder, identities=2, videos_per_identity=1, frames=10)
    return folder


def test_occlusion_study_per_frame_table_and_correlations(videos, tmp_path):
    table, summary = occlusion_study(
        tiny_fomm(),
        StudyOptions(videos, tmp_path, progress=False),
        occlusion_threshold=0.9,
        num_examples=2,
    )
    assert len(table) == 2 * 10
    assert sorted(table["frame"].unique()) == list(range(10))
    values = table[["l1", "occluded_fraction", "occlusion_mean", "motion"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert ((table["occluded_fraction"] >= 0) & (table["occluded_fraction"] <= 1)).all()
    # frame 0 reconstructs itself: no motion
    assert table.loc[table["frame"] == 0, "motion"].max() < 1e-4
    written = json.loads((tmp_path / "summary.json").read_text())
    for name, value in written["results"].items():
        assert value is None or math.isfinite(value), name
        assert value is not None or name in written["null_reasons"]
    assert written["results"]["frames"] == 20
    assert written["correlation_soft_l1"]["n"] == 20
    by_setting = pd.read_csv(tmp_path / "occlusion_summary.csv")
    assert set(by_setting["measure"]) == {"occluded_fraction", "occlusion_mean"}
    for _, bins in by_setting.groupby("measure"):
        assert bins["count"].sum() == 20
    for name in ("occlusion.csv", "occlusion.png", "occlusion_examples.png"):
        assert (tmp_path / name).is_file(), name
    assert summary["results"] == written["results"]


def test_bad_threshold_is_refused(videos, tmp_path):
    with pytest.raises(InputError, match="occlusion_threshold"):
        occlusion_study(tiny_fomm(), StudyOptions(videos, tmp_path), occlusion_threshold=0)


def test_correlations_and_bins():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=200)
    y = 2 * x + 0.1 * rng.normal(size=200)
    fit = correlations(x, y)
    assert fit["pearson"] > 0.95 and fit["spearman"] > 0.95
    assert fit["slope"] == pytest.approx(2, abs=0.1)
    assert math.isnan(correlations(np.ones(10), y[:10])["pearson"])
    assert correlations([1.0, np.nan, 3.0], [1.0, 2.0, np.nan])["n"] == 1
    bins = binned_means(x, {"y": y}, 4)
    assert len(bins) == 4 and bins["count"].sum() == 200
    assert bins["y_mean"].is_monotonic_increasing


def test_partial_correlation_removes_a_shared_cause():
    rng = np.random.default_rng(1)
    motion = rng.uniform(size=500)
    occlusion = motion + 0.05 * rng.normal(size=500)
    error = motion + 0.05 * rng.normal(size=500)
    assert np.corrcoef(occlusion, error)[0, 1] > 0.9
    assert abs(partial_correlation(occlusion, error, motion)) < 0.2


def test_the_study_scores_the_map_against_the_true_occlusions(videos, tmp_path):
    plans = split_plans(2, 1, 10, 64, seed=3, fps=25, head_turn=30.0, occluded_share=0.5)
    events = pd.concat([video_events(planned, 64) for planned in plans], ignore_index=True)
    events.to_csv(tmp_path / "occlusion_events.csv", index=False)
    table, summary = occlusion_study(
        tiny_fomm(),
        StudyOptions(videos, tmp_path / "study", max_frames=6, progress=False),
        num_examples=0,
        events_csv=str(tmp_path / "occlusion_events.csv"),
    )
    truth = events.set_index(["video", "frame"])["face_covered"]
    expected = [
        truth[(video, frame)] for video, frame in zip(table["video"], table["frame"], strict=True)
    ]
    np.testing.assert_allclose(table["face_covered"], expected)
    results = summary["results"]
    studied = events[events["frame"] < 6]
    assert results["covered_frames"] == int((studied["face_covered"] >= 0.1).sum()) > 0
    assert results["face_covered_mean"] == pytest.approx(studied["face_covered"].mean())
    for name in ("auc_occlusion_mean_true", "pearson_occlusion_mean_true", "l1_covered"):
        value = results[name]
        assert (value is not None and math.isfinite(value)) or name in summary["null_reasons"]
    assert 0 <= results["auc_occlusion_mean_true"] <= 1

    events.assign(video="someone#00").to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(InputError, match="none of the studied videos"):
        occlusion_study(
            tiny_fomm(),
            StudyOptions(videos, tmp_path / "other", progress=False),
            events_csv=str(tmp_path / "other.csv"),
        )
    with pytest.raises(InputError, match="no occlusion events table"):
        occlusion_study(
            tiny_fomm(),
            StudyOptions(videos, tmp_path / "missing", progress=False),
            events_csv=str(tmp_path / "missing.csv"),
        )
