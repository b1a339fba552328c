"""data.fakes=self_blended: real crops and their blends half and half, on any face data config."""

from pathlib import Path

import cv2
import hydra
import numpy as np
import pandas as pd
import pytest
import torch

import train
from datamodules.face_landmarks import LANDMARK_COLUMNS, landmark_columns
from datamodules.faces import FaceDataModule
from datamodules.samplers import TrainSampling
from fakedetect.self_blend import SelfBlend
from fakedetect.self_blend.preview import PREVIEW_FILE

TINY_NET = ["model.net.backbone=test_efficientnet", "model.net.pretrained=false"]
# Where tests/fakedetect/conftest.py draws the eyes, nose and mouth of its 40-pixel faces.
DRAWN_POINTS = np.array([[15, 15], [25, 15], [20, 20], [13, 25], [26, 25]], dtype=float)


def add_landmarks(faces_dir):
    """Store the drawn faces' five points in faces.csv, as face extraction does."""
    table = pd.read_csv(faces_dir / "faces.csv")
    columns = [landmark_columns(DRAWN_POINTS) for _ in range(len(table))]
    pd.concat([table, pd.DataFrame(columns)], axis=1).to_csv(faces_dir / "faces.csv", index=False)


@pytest.fixture
def face_dataset(face_dataset):
    """conftest's synthetic faces, with five points stored per crop as extraction does."""
    add_landmarks(face_dataset[1])
    return face_dataset


def self_blended_data(detector_cfg, *overrides):
    cfg = detector_cfg(["model=effnet_b4", *TINY_NET, "data.fakes=self_blended", *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def test_each_training_batch_is_half_real_crops_half_their_self_blends(detector_cfg):
    datamodule = self_blended_data(detector_cfg, "data.batch_size=6")
    loader = datamodule.train_dataloader()
    assert len(loader) == 16 // 3  # one pass over the 16 real train crops, 3 a batch
    for batch in loader:
        assert batch["image"].shape == (6, 3, 32, 32)
        labels = batch["label"].tolist()
        assert labels == [0.0, 1.0] * 3  # each real crop followed by its blend
        reals, fakes = batch["video"][0::2], batch["video"][1::2]
        assert all(video.startswith("train_real_") for video in reals)  # the index's fakes: unused
        assert fakes == [f"{video}/self_blended" for video in reals]
        assert torch.equal(batch["frame"][0::2], batch["frame"][1::2])
    assert datamodule.self_blended.landmark_counts["train"] == {"stored_5": 16}


def test_validation_keeps_the_index_fakes_when_it_has_them(detector_cfg):
    datamodule = self_blended_data(detector_cfg)
    videos = {video for batch in datamodule.val_dataloader() for video in batch["video"]}
    assert videos == {"val_real_000", "val_fake_000", "val_real_001", "val_fake_001"}


def test_validation_without_fakes_self_blends_its_reals_the_same_way_every_time(
    detector_cfg, face_dataset
):
    index, _ = face_dataset
    table = pd.read_csv(index)
    table[(table["split"] != "val") | (table["label"] == 0)].to_csv(index, index=False)
    datamodule = self_blended_data(detector_cfg)
    first, second = (list(datamodule.val_dataloader()) for _ in range(2))
    labels = torch.cat([batch["label"] for batch in first])
    assert labels.tolist() == [0.0] * 8 + [1.0] * 8  # 2 real val videos x 4 crops, then blends
    videos = [video for batch in first for video in batch["video"]]
    assert videos[8:] == [f"{video}/self_blended" for video in videos[:8]]
    for one, two in zip(first, second, strict=True):
        assert torch.equal(one["image"], two["image"])
    assert not torch.equal(first[0]["image"][0], first[1]["image"][0])  # crop 0 and its blend


def test_crops_without_landmarks_are_left_out_and_a_split_without_any_is_refused(
    detector_cfg, face_dataset, caplog
):
    _, faces_dir = face_dataset
    table = pd.read_csv(faces_dir / "faces.csv")
    table[list(LANDMARK_COLUMNS)] = table[list(LANDMARK_COLUMNS)].where(table["frame"] != 0)
    table.to_csv(faces_dir / "faces.csv", index=False)
    cfg_overrides = ["data.self_blend.landmarks=null"]  # stored points only
    datamodule = self_blended_data(detector_cfg, *cfg_overrides)
    counts = datamodule.self_blended.landmark_counts["train"]
    assert counts == {"stored_5": 12, "none": 4}  # frame 0 of each of the 4 videos
    assert "4 of 16 real train crops have no landmarks" in caplog.text
    table[list(LANDMARK_COLUMNS)] = np.nan
    table.to_csv(faces_dir / "faces.csv", index=False)
    with pytest.raises(ValueError, match="None of the 16 real train crops"):
        self_blended_data(detector_cfg, *cfg_overrides)


def test_a_triplet_model_or_an_odd_batch_is_refused_with_a_reason(detector_cfg):
    datamodule = self_blended_data(detector_cfg)
    with pytest.raises(ValueError, match="trains single faces"):
        datamodule._self_blended_train_loader(TrainSampling("triplet"))
    datamodule.batch_size = 5  # global sizes are split (and checked) per process at setup
    with pytest.raises(ValueError, match="half real, half fake"):
        datamodule._split_batches()
    with pytest.raises(ValueError, match="must be one of index, self_blended"):
        FaceDataModule("index.csv", "faces", fakes="self-blended")
    with pytest.raises(ValueError, match="needs data.self_blend"):
        FaceDataModule("index.csv", "faces", fakes="self_blended")


@pytest.mark.parametrize("data", ["ffpp", "dfdc", "celebdf", "folder", "fomm_fakes"])
def test_the_option_composes_on_every_face_data_config(make_cfg, data):
    overrides = [f"data={data}", "model=effnet_b4", "data.fakes=self_blended"]
    if data == "fomm_fakes":
        overrides.append("data.index.checkpoint=fomm.ckpt")
    datamodule = hydra.utils.instantiate(make_cfg(overrides).data)
    assert isinstance(datamodule, FaceDataModule) and datamodule.fakes == "self_blended"
    assert isinstance(datamodule.self_blended.blender, SelfBlend)
    plain = hydra.utils.instantiate(
        make_cfg([f"data={data}", "model=effnet_b4", *overrides[3:]]).data
    )
    assert plain.fakes == "index" and plain.self_blended is None


def test_the_paper_recipe_composes_on_any_data(make_cfg):
    cfg = make_cfg(["model=effnet_b4", "recipe=effnet_b4_sbi", "data=celebdf"])
    assert cfg.data.fakes == "self_blended" and cfg.data.image_size == 380
    assert cfg.data.extract.size == 380 and cfg.data.batch_size == 32
    assert cfg.data.augment._target_ == "fakedetect.self_blend.augment.sbi_augmentation"
    assert cfg.model.optimizer._target_ == "fakedetect.optim.SAM"
    assert cfg.model.optimizer.lr == 0.001 and cfg.model.optimizer.momentum == 0.9
    assert cfg.model.net.backbone == "tf_efficientnet_b4.ap_in1k"
    assert cfg.trainer.max_epochs == 100 and cfg.model.scheduler.total_epochs == 100
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.fakes == "self_blended" and datamodule.index.func.__name__ == "celebdf_index"


def test_fast_dev_run_trains_any_detector_on_self_blends_and_shows_them(detector_cfg):
    cfg = detector_cfg(
        ["model=effnet_b4", *TINY_NET, "data.fakes=self_blended", "debug=fast_dev_run"]
    )
    train.train(cfg)
    grid = cv2.imread(f"{cfg.paths.output_dir}/{PREVIEW_FILE}")
    assert grid is not None and grid.shape[1] > 3 * 160 and grid.shape[0] > 8 * 160


@pytest.mark.slow  # two short epochs with SAM, validation and test
def test_the_paper_recipe_trains_with_sam_and_logs_the_landmark_sources(detector_cfg):
    cfg = detector_cfg(
        [
            "model=effnet_b4",
            "recipe=effnet_b4_sbi",
            *TINY_NET,
            "data.image_size=32",
            "data.batch_size=4",
            "data.eval_batch_size=16",
            "data.frames_per_video=null",
            "data.val_frames_per_video=null",
            "data.num_workers=0",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "callbacks.rich_progress_bar=null",
        ]
    )
    train.train(cfg)
    logged = pd.read_csv(f"{cfg.paths.output_dir}/csv/metrics.csv")
    assert logged["data/self_blend_landmarks_stored_5"].dropna().tolist() == [16]
    assert logged["train/loss_epoch"].dropna().size == 2 and logged["val/auc_frame"].notna().any()
    videos = pd.read_csv(f"{cfg.paths.output_dir}/test/videos.csv")
    assert videos["score"].between(0, 1).all() and len(videos) == 4
    assert (Path(cfg.paths.output_dir) / PREVIEW_FILE).is_file()
