"""The paper's published weights go through crosseval like any checkpoint."""

import shutil

import pytest
from crosseval_media import WHOLE_FRAME, write_beta

from datamodules.extraction.crops import CropSettings
from fakedetect.crosseval import ScoringOptions, cross_evaluate
from fakedetect.scoring import VideoScorer

pytestmark = [pytest.mark.reference, pytest.mark.slow]  # a full B4 on 224 px faces

OPTIONS = ScoringOptions(device="cpu", precision="fp32", progress=False)
PROTOCOL = {**WHOLE_FRAME, "frames_per_video": 2, "size": 224}


def test_icpr_weights_are_scored_and_cached_by_their_digest(reference_dir, tmp_path):
    weights = (
        reference_dir
        / "icpr2020dfdc"
        / "EfficientNetAutoAttB4"
        / ("EfficientNetAutoAttB4_fp16.pth")
    )
    beta = write_beta(tmp_path / "beta")
    detectors = {"icpr": {"checkpoint": str(weights), "architecture": "EfficientNetAutoAttB4"}}
    first = cross_evaluate(
        detectors, {"beta": str(beta)}, tmp_path / "one", tmp_path / "cache", PROTOCOL, OPTIONS
    )
    assert first.scored == {"EfficientNetAutoAttB4_fp16": 3}
    row = first.table.iloc[0]
    assert row["videos"] == 3 and 0 <= row["auc_video"] <= 1 and row["calibration"] == "none"

    scorer = VideoScorer.from_checkpoints(
        str(weights),
        detector=PROTOCOL["detector"],
        crop=CropSettings.split_options(PROTOCOL)[0],
        device="cpu",
        precision="fp32",
    )
    direct = scorer.score_video(beta / "b.mp4")
    videos = first.videos.set_index("video")
    assert videos.loc["b", "score"] == pytest.approx(direct.score, abs=1e-5)

    # The same bytes elsewhere, with the architecture inferred: nothing is scored again.
    copy = tmp_path / "copy" / "EfficientNetAutoAttB4_fp16.pth"
    copy.parent.mkdir()
    shutil.copy(weights, copy)
    again = cross_evaluate(
        [str(copy)], {"beta": str(beta)}, tmp_path / "two", tmp_path / "cache", PROTOCOL, OPTIONS
    )
    assert again.table.iloc[0]["detector"] == "EfficientNetAutoAttB4_fp16"
    assert again.scored == {"EfficientNetAutoAttB4_fp16": 0}
