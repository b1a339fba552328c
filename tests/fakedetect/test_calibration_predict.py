"""fakedetect.predict applies the calibration stored with the detector, and says so."""

import math

import pandas as pd
import pytest
import torch
from pipeline_checkpoints import write_tiny_checkpoint
from pipeline_media import write_face_video
from scipy.special import expit

from fakedetect.calibration import Calibration
from fakedetect.calibration_store import write_sidecar
from fakedetect.predict import main

SETTINGS = [
    "frames_per_video=3", "size=64", "precision=fp32", "device=cpu", "workers=0",
    "progress=false", "detector.min_face_size=20", "detector.device=cpu",
]  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    write_face_video(root / "videos" / "talk.mp4", num_frames=6)
    write_face_video(root / "videos" / "nobody.mp4", num_frames=4, faces=False)
    return root


def _predict(make_cfg, media, out, checkpoint, *extra):
    """Predict into ``out`` (every call the same folder: the faces are extracted once)."""
    cfg = make_cfg(
        [f"videos={media / 'videos'}", f"output={out}", f"checkpoint={checkpoint}", *SETTINGS,
         *extra],
        config_name="predict",
    )  # fmt: skip
    main(cfg)
    return pd.read_csv(out / "videos.csv").set_index("video")


def test_predict_applies_the_stored_calibration(make_cfg, media, tmp_path):
    checkpoint = write_tiny_checkpoint(tmp_path / "det.ckpt", attention=False)
    raw = _predict(make_cfg, media, tmp_path / "out", checkpoint)
    assert not raw["calibrated"].any() and raw["score_calibrated"].isna().all()

    # A map that moves every logit far below 0: the verdict follows it, the score stays raw.
    content = torch.load(checkpoint, weights_only=True)
    content["calibration"] = Calibration("platt", slope=0.5, bias=-30.0).to_dict()
    torch.save(content, checkpoint)
    calibrated = _predict(make_cfg, media, tmp_path / "out", checkpoint)
    talk = calibrated.loc["talk"]
    assert talk["calibrated"] and talk["label"] == "real"
    assert talk["score"] == pytest.approx(raw.loc["talk", "score"], abs=1e-6)
    mean_logit = math.log(talk["score"] / (1 - talk["score"]))
    assert talk["score_calibrated"] == pytest.approx(expit(0.5 * mean_logit - 30), rel=1e-4)
    assert calibrated.loc["nobody", "label"] == "no face"
    assert not calibrated.loc["nobody", "calibrated"]

    # A sidecar (what fakedetect.calibrate writes) wins; calibration=false ignores both.
    write_sidecar(checkpoint, Calibration("platt", slope=1.0, bias=30.0))
    sidecar = _predict(make_cfg, media, tmp_path / "out", checkpoint)
    assert sidecar.loc["talk", "label"] == "fake" and sidecar.loc["talk", "score_calibrated"] > 0.99
    ignored = _predict(make_cfg, media, tmp_path / "out", checkpoint, "calibration=false")
    assert not ignored["calibrated"].any()
    assert ignored.loc["talk", "label"] == raw.loc["talk", "label"]
