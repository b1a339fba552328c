from pathlib import Path

import cv2
import hydra
import pandas as pd
import pytest
from fomm_tool_media import write_tiny_checkpoint

import train
from datamodules.embedded import write_talking_heads
from datamodules.face_detection import MTCNNDetector, WholeFrameDetector
from fomm.media import InputError

# A tiny timm backbone, as the detector tests use.
TINY_NET = ["model.net.backbone=test_efficientnet", "model.net.pretrained=false"]


def small_runs(checkpoint, config):
    return [
        "model=effnet_att",
        "data=fomm_fakes",
        *TINY_NET,
        f"data.index.checkpoint={checkpoint}",
        f"data.index.config={config}",
        "data.index.progress=false",
        "data.image_size=32",
        "data.batch_size=4",
        "data.eval_batch_size=8",
        "data.num_workers=0",
        "data.extract.workers=0",
        "data.extract.frames_per_video=2",
        "logger=csv",
    ]


def test_detector_trains_on_a_generated_fomm_dataset(make_cfg, tmp_path):
    embedded = tmp_path / "data" / "embedded"  # the config's default videos
    write_talking_heads(embedded / "train", 4, 2, num_frames=3, size=32)
    write_talking_heads(embedded / "test", 2, 2, num_frames=3, size=32, first_identity=4)
    checkpoint, config = write_tiny_checkpoint(tmp_path, size=32)
    cfg = make_cfg([*small_runs(checkpoint, config), "debug=fast_dev_run"])
    train.train(cfg)

    output = tmp_path / "data" / "fomm_fakes"
    labels = pd.read_csv(output / "labels.csv", keep_default_na=False)
    assert len(labels) == 24 and labels["label"].sum() == 12
    faces = pd.read_csv(output / "faces" / "faces.csv")
    assert faces["video"].nunique() == 24 and (faces["confidence"] == 1.0).all()
    assert (faces[["left", "top", "right", "bottom"]].to_numpy() == [0, 0, 32, 32]).all()
    crop = cv2.imread(str(output / "faces" / faces["path"].iloc[0]))
    assert crop.shape == (32, 32, 3)  # the whole frame
    scored = pd.read_csv(Path(cfg.paths.output_dir) / "test" / "videos.csv")
    test_videos = set(labels.loc[labels["split"] == "test", "video"])
    assert len(scored) and set(scored["video"]) <= test_videos


def test_fomm_fakes_config_needs_a_checkpoint_and_can_detect_faces(make_cfg, tmp_path):
    cfg = make_cfg(["model=effnet_att", "data=fomm_fakes", *TINY_NET])
    assert cfg.data.index.videos == str(tmp_path / "data" / "embedded")
    assert cfg.data.faces_dir == str(tmp_path / "data" / "fomm_fakes" / "faces")
    assert isinstance(hydra.utils.instantiate(cfg.data.extract.detector), WholeFrameDetector)
    datamodule = hydra.utils.instantiate(cfg.data)
    with pytest.raises(InputError, match="data.index.checkpoint=PATH.*last.ckpt"):
        datamodule.prepare_data()
    detected = make_cfg(
        ["model=effnet_att", "data=fomm_fakes", "detector@data.extract.detector=mtcnn"]
    )
    detector = hydra.utils.instantiate(detected.data.extract.detector, device="cpu")
    assert isinstance(detector, MTCNNDetector)


def test_experiment_detector_on_fomm_fakes_runs_on_tiny_settings(make_cfg, tmp_path):
    embedded = tmp_path / "data" / "embedded"
    write_talking_heads(embedded / "train", 4, 2, num_frames=3, size=32)
    write_talking_heads(embedded / "test", 2, 2, num_frames=3, size=32, first_identity=4)
    checkpoint, config = write_tiny_checkpoint(tmp_path, size=32)
    tiny = [o for o in small_runs(checkpoint, config) if not o.startswith(("model=", "data="))]
    cfg = make_cfg(["experiment=detector_on_fomm_fakes", *tiny, "debug=fast_dev_run"])
    assert cfg.data.frames_per_video == 32 and cfg.data.index.fakes_per_video == 2
    train.train(cfg)

    labels = pd.read_csv(tmp_path / "data" / "fomm_fakes" / "labels.csv")
    assert labels["label"].value_counts().to_dict() == {1: 24, 0: 12}  # two fakes a real video
