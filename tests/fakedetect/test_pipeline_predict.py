import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_checkpoints import write_pickled_checkpoint, write_tiny_checkpoint
from pipeline_media import write_face_video

from datamodules.extraction.crops import CropSettings
from datamodules.face_detection import MTCNNDetector
from datamodules.video_io import read_frames
from fakedetect.predict import run_prediction
from fakedetect.scoring import VideoScorer, checkpoint_specs, video_score

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = dict(crop=CropSettings(frames_per_video=3, size=64), precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    videos = root / "videos"
    write_face_video(videos / "talk.mp4", num_frames=9)
    write_face_video(videos / "portrait.mp4", num_frames=9, height=320, width=180)
    write_face_video(videos / "nobody.mp4", num_frames=6, faces=False)
    attention = write_tiny_checkpoint(root / "att.ckpt", attention=True, seed=0)
    plain = write_tiny_checkpoint(root / "plain.ckpt", attention=False, seed=1)
    return videos, attention, plain


@pytest.fixture(scope="module")
def scorer(media):
    _, attention, plain = media
    detector = MTCNNDetector(min_face_size=20, refine_precision="fp32")
    return VideoScorer.from_checkpoints([str(attention), str(plain)], detector=detector, **SETTINGS)


def test_predict_end_to_end_with_an_ensemble(media, scorer, tmp_path):
    videos, _, _ = media
    out = tmp_path / "out"
    table = run_prediction(scorer, videos, out, workers=0, attention_video=True, progress=False)
    written = pd.read_csv(out / "videos.csv", keep_default_na=False)
    assert written.columns[:4].tolist() == ["video", "score", "label", "frames_scored"]
    by_video = table.set_index("video")
    assert by_video.loc["nobody", "label"] == "no face" and math.isnan(
        by_video.loc["nobody", "score"]
    )
    for video in ("talk", "portrait"):
        row = by_video.loc[video]
        assert row["frames_scored"] == 3 and 0.0 < row["score"] < 1.0
        assert row["label"] == ("fake" if row["score"] >= 0.5 else "real")

    frames = pd.read_csv(out / "frames.csv")
    assert frames.columns.tolist() == [
        "video",
        "frame",
        "face_rank",
        "logit",
        "logit_att",
        "logit_plain",
    ]
    assert np.allclose(
        frames["logit"], frames[["logit_att", "logit_plain"]].mean(axis=1), atol=1e-6
    )
    talk = frames[frames["video"] == "talk"]
    assert talk["frame"].tolist() == [0, 4, 8]
    expected = 1 / (1 + np.exp(-talk["logit"].mean()))
    assert by_video.loc["talk", "score"] == pytest.approx(expected, abs=1e-6)

    overlay = read_frames(out / "attention" / "talk.mp4", [0, 2])
    assert overlay.shape[0] == 2 and overlay.shape[2] == 128  # crop | heat map, 64 px each
    assert not (out / "attention" / "nobody.mp4").exists()

    # A rerun reuses the extracted faces and gives the same scores.
    again = run_prediction(scorer, videos, out, workers=0, progress=False, show_table=False)
    summary = json.loads((out / "faces" / "summary.json").read_text())
    assert summary["skipped_already_done"] == 3 and summary["done_this_run"] == 0
    pd.testing.assert_frame_equal(again, table)

    # Scoring in memory (no files) gives the numbers the command wrote.
    direct = scorer.score_video(videos / "talk.mp4")
    assert direct.score == pytest.approx(by_video.loc["talk", "score"], abs=1e-5)
    assert math.isnan(scorer.score_video(videos / "nobody.mp4").score)


def test_in_memory_frames_and_a_non_attention_model(media, tmp_path, caplog):
    videos, _, plain = media
    scorer = VideoScorer.from_checkpoints(
        plain, detector=MTCNNDetector(min_face_size=20), **SETTINGS
    )
    frames = read_frames(videos / "talk.mp4", [1, 5])
    result = scorer.score_frames(frames, indices=[1, 5])
    assert result.frames_scored == 2 and result.faces["frame"].tolist() == [1, 5]
    run_prediction(
        scorer,
        videos / "talk.mp4",
        tmp_path / "out",
        workers=0,
        attention_video=True,
        progress=False,
    )
    assert "attention model" in caplog.text
    assert not (tmp_path / "out" / "attention").exists()


def test_checkpoint_option_forms(tmp_path):
    assert checkpoint_specs("a/w.ckpt") == [{"path": "a/w.ckpt", "architecture": None, "name": "w"}]
    specs = checkpoint_specs(
        ["x/w.pth", {"path": "y/w.pth", "architecture": "Xception"}], architecture="EfficientNetB4"
    )
    assert [s["name"] for s in specs] == ["w", "w_2"]
    assert [s["architecture"] for s in specs] == ["EfficientNetB4", "Xception"]
    with pytest.raises(ValueError, match="checkpoint=PATH"):
        checkpoint_specs(None)
    with pytest.raises(FileNotFoundError, match="do not exist"):
        VideoScorer.from_checkpoints(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="precision"):
        VideoScorer([], precision="fp8")


def test_predict_refuses_pickled_weights_unless_trusted(media, tmp_path):
    """``trust_checkpoint=true`` is the only way to a file that needs full unpickling."""
    videos, _, _ = media
    pickled = write_pickled_checkpoint(tmp_path / "pickled.ckpt")
    command = [
        sys.executable, "-m", "fakedetect.predict", f"videos={videos / 'talk.mp4'}",
        f"output={tmp_path / 'out'}", f"checkpoint={pickled}", "detector=haar",
        f"paths.log_dir={tmp_path / 'logs'}", "progress=false", "workers=0",
    ]  # fmt: skip
    refused = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stderr
    assert f"error: {pickled} holds Python objects" in refused.stderr
    assert "trust_checkpoint=true" in refused.stderr
    assert not (tmp_path / "out" / "videos.csv").exists()
    scorer = VideoScorer.from_checkpoints(pickled, trust_checkpoint=True, **SETTINGS)
    assert scorer.model_names == ["pickled"]


@pytest.mark.slow
def test_predict_command_with_worker_processes(media, tmp_path):
    videos, attention, plain = media
    command = [
        sys.executable, "-m", "fakedetect.predict", f"videos={videos}",
        f"output={tmp_path / 'out'}",
        f"checkpoint=[{attention},{plain}]", "frames_per_video=2", "size=64", "workers=1",
        "detector.min_face_size=20", "detector.device=cpu", f"paths.log_dir={tmp_path / 'logs'}",
        "progress=false",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "no face (not scored)" in result.stdout and "nobody" in result.stdout
    table = pd.read_csv(tmp_path / "out" / "videos.csv", keep_default_na=False)
    labels = table.set_index("video")["label"]
    assert labels["nobody"] == "no face" and {labels["talk"], labels["portrait"]} <= {
        "fake",
        "real",
    }


def test_video_score_is_the_sigmoid_of_the_mean_logit_even_for_extreme_logits():
    assert video_score(np.array([-2.0, 0.0, 2.0])) == pytest.approx(0.5)
    assert video_score(np.array([1.0, 3.0])) == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert video_score(np.array([-1000.0, -900.0])) == 0.0
    assert video_score(np.array([1000.0])) == 1.0
    assert math.isnan(video_score(np.array([])))
