import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from studies_media import (  # noqa: F401 (autouse fixture)
    one_torch_thread,
    tiny_fomm,
    tiny_tpsmm,
    write_videos,
)

from datamodules.synthetic_occlusion_events import video_events
from datamodules.synthetic_videos import split_plans
from fomm.media import InputError
from fomm.reconstruction import reconstruct
from loop.studies.inputs import to_tensor
from loop.studies.occlusion import occlusion_study, partial_correlation
from loop.studies.options import StudyOptions
from loop.studies.report import binned_means, correlations


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("occlusion_videos")
    write_videos(folder, identities=2, videos_per_identity=1, frames=10)
    return folder


def _events_csv(folder):
    """The true occlusions of the ``videos`` fixture (same plans: 2 identities, seed 3)."""
    plans = split_plans(2, 1, 10, 64, seed=3, fps=25, head_turn=30.0, occluded_share=0.5)
    events = pd.concat([video_events(planned, 64) for planned in plans], ignore_index=True)
    events.to_csv(folder / "occlusion_events.csv", index=False)
    return events, folder / "occlusion_events.csv"


def _auc(scores, positive):
    """Mann-Whitney AUC (ties count half), independent of the study's torchmetrics call."""
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (len(pos) * len(neg))


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
    events, _ = _events_csv(tmp_path)
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


def test_a_tpsmm_has_every_mask_of_its_resolutions_measured_and_scored(videos, tmp_path):
    events, events_csv = _events_csv(tmp_path)
    networks = tiny_tpsmm()
    table, summary = occlusion_study(
        networks,
        StudyOptions(videos, tmp_path / "study", max_frames=6, progress=False),
        num_examples=0,
        events_csv=str(events_csv),
    )
    masks = ["level0", "level1", "level2", "level3", "combined"]
    measured = [
        f"{kind}_{mask}" for mask in masks for kind in ("occluded_fraction", "occlusion_mean")
    ]
    assert list(table.columns[-len(measured) :]) == measured
    assert summary["occlusion_mask_sizes"] == [[8, 8], [16, 16], [32, 32], [64, 64]]
    # The plain measures are of the finest mask, the one that blends the output.
    np.testing.assert_allclose(table["occlusion_mean_level3"], table["occlusion_mean"], atol=1e-6)

    # Recompute one video's masks independently of the study's columns.
    first = table["video"].iloc[0]
    frames = to_tensor(
        StudyOptions(videos, tmp_path).read_frames(videos / f"{first}.mp4", 64).frames[:6]
    )
    with torch.no_grad():
        result = reconstruct(networks, frames, return_occlusion_levels=True)
    levels = result.occlusion_levels
    rows = table[table["video"] == first]
    for k, level in enumerate(levels):
        soft = 1 - level.mean(dim=(1, 2, 3)).numpy()
        np.testing.assert_allclose(rows[f"occlusion_mean_level{k}"], soft, atol=1e-5)
        occluded = (level < 0.5).float().mean(dim=(1, 2, 3)).numpy()
        np.testing.assert_allclose(rows[f"occluded_fraction_level{k}"], occluded, atol=1e-6)
    upsampled = [
        F.interpolate(level, size=(64, 64), mode="bilinear", align_corners=True) for level in levels
    ]
    combined = torch.stack(upsampled).mean(dim=0)
    np.testing.assert_allclose(
        rows["occlusion_mean_combined"], 1 - combined.mean(dim=(1, 2, 3)).numpy(), atol=1e-5
    )
    assert not np.allclose(rows["occlusion_mean_combined"], rows["occlusion_mean"])

    # Every measure scored as FOMM's map is, against the truth and the error.
    scored = pd.read_csv(tmp_path / "study" / "occlusion_measures.csv")
    assert list(scored["measure"]) == ["occluded_fraction", "occlusion_mean", *measured]
    assert scored.set_index("measure").loc["occlusion_mean_level1", "mask"] == "level1"
    by_measure = scored.set_index("measure")
    covered = table["face_covered"].to_numpy() >= 0.1
    assert 0 < covered.sum() < len(table)
    for measure in ("occlusion_mean_combined", "occluded_fraction_level0", "occlusion_mean"):
        expected = _auc(table[measure].to_numpy(), covered)
        assert by_measure.loc[measure, "auc_true"] == pytest.approx(expected, abs=1e-6), measure
        assert by_measure.loc[measure, "mean"] == pytest.approx(table[measure].mean())
        assert by_measure.loc[measure, "spearman_l1"] == pytest.approx(
            correlations(table[measure], table["l1"])["spearman"], nan_ok=True
        )
    results = summary["results"]
    assert results["auc_occlusion_mean_combined_true"] == pytest.approx(
        by_measure.loc["occlusion_mean_combined", "auc_true"]
    )
    assert results["occlusion_mean_combined"] == pytest.approx(
        table["occlusion_mean_combined"].mean()
    )
    assert [row["measure"] for row in summary["measures"]] == list(scored["measure"])


def test_fomm_keeps_one_map_and_two_measures(videos, tmp_path):
    table, summary = occlusion_study(
        tiny_fomm(),
        StudyOptions(videos, tmp_path, max_frames=4, progress=False),
        num_examples=0,
    )
    assert list(table.columns) == [
        "video", "frame", "l1", "occluded_fraction", "occlusion_mean", "motion", "face_covered",
    ]  # fmt: skip
    scored = pd.read_csv(tmp_path / "occlusion_measures.csv")
    assert list(scored["measure"]) == ["occluded_fraction", "occlusion_mean"]
    assert list(scored["mask"]) == ["output", "output"] and scored["auc_true"].isna().all()
    assert (
        "occlusion_mask_sizes" not in summary
        and "auc_occlusion_mean_true" not in summary["results"]
    )
    with torch.no_grad():
        frames = torch.rand(3, 3, 64, 64)
        result = reconstruct(
            tiny_fomm(), frames, return_occlusion_maps=True, return_occlusion_levels=True
        )
    assert len(result.occlusion_levels) == 1
    assert torch.equal(result.occlusion_levels[0], result.occlusion_maps)
