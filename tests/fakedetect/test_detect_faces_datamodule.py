import functools
import logging
import sys
import types

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from datamodules.extraction.crops import CropSettings
from datamodules.face_tables import evenly_spaced_frames
from datamodules.face_transform import face_transform
from datamodules.faces import FaceDataModule
from datamodules.samplers import TrainSampling
from fakedetect.augment import icpr_augmentation


def make_datamodule(index, faces_dir, **kwargs):
    settings = {"image_size": 32, "batch_size": 4, "eval_batch_size": 6, "num_workers": 0}
    return FaceDataModule(index, faces_dir, **(settings | kwargs))


def test_detect_splits_join_index_and_faces(face_dataset):
    index, faces_dir = face_dataset
    datamodule = make_datamodule(index, faces_dir)
    datamodule.setup("fit")
    train = datamodule.splits["train"]
    assert train["video"].nunique() == 8 and len(train) == 8 * 4  # one face per frame
    assert set(train["label"]) == {0, 1}
    assert datamodule.splits["test"]["video"].str.startswith("test_").all()

    two_faces = make_datamodule(index, faces_dir, max_faces_per_frame=2, frames_per_video=2)
    two_faces.setup("fit")
    video = two_faces.splits["train"].query("video == 'train_fake_000'")
    assert sorted(video["frame"].unique()) == [0, 30]  # first and last of 0, 10, 20, 30
    assert len(video) == 3  # frame 0 has a second face


def test_detect_evenly_spaced_frames():
    table = pd.DataFrame({"video": ["v"] * 10 + ["w"] * 2, "frame": list(range(10)) + [0, 5]})
    kept = evenly_spaced_frames(table, 4)
    assert kept.query("video == 'v'")["frame"].tolist() == [0, 3, 6, 9]
    assert kept.query("video == 'w'")["frame"].tolist() == [0, 5]
    assert evenly_spaced_frames(table, None) is table
    with pytest.raises(ValueError, match="frames_per_video=0"):
        evenly_spaced_frames(table, 0)


def test_detect_binary_batches_follow_the_contract(face_dataset):
    index, faces_dir = face_dataset
    datamodule = make_datamodule(index, faces_dir, augment=icpr_augmentation())
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["label"].dtype == torch.float32 and batch["label"].sum() == 2  # balanced
    assert batch["frame"].dtype == torch.int64 and batch["face_rank"].tolist() == [0] * 4
    assert isinstance(batch["video"], list) and batch["video"][0].startswith("train_")
    assert batch["skipped"] == []

    val = next(iter(datamodule.val_dataloader()))
    assert val["video"][:4] == ["val_fake_000"] * 4 and val["frame"][:4].tolist() == [0, 10, 20, 30]
    crop = pd.read_csv(faces_dir / "faces.csv").query("video == 'val_fake_000'")["path"].iloc[0]
    rgb = cv2.cvtColor(cv2.imread(str(faces_dir / crop)), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR) / 255.0
    expected = (rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]  # ImageNet statistics
    np.testing.assert_allclose(val["image"][0].permute(1, 2, 0).numpy(), expected, atol=1e-4)


def test_detect_triplet_batches_when_the_module_asks(face_dataset):
    index, faces_dir = face_dataset
    datamodule = make_datamodule(index, faces_dir, triplet_batch_size=3, val_triplets=5)
    datamodule.setup("fit")
    datamodule.train_sampling = lambda: TrainSampling("triplet", 2)
    batches = list(datamodule.train_dataloader())
    assert len(batches) == 2
    batch = batches[0]
    assert {"anchor", "positive", "negative", "anchor_label", "negative_label"} <= set(batch)
    assert batch["anchor"].shape == (3, 3, 32, 32)
    assert batch["anchor_label"].tolist() == [1, 0, 1]
    assert (batch["anchor_label"] != batch["negative_label"]).all()
    val = list(datamodule.val_dataloader())
    assert sum(len(b["anchor"]) for b in val) == 5


def test_detect_unreadable_crops_are_named_and_counted(face_dataset, caplog):
    index, faces_dir = face_dataset
    faces = pd.read_csv(faces_dir / "faces.csv")
    broken = faces.query("video == 'val_real_000' and frame == 10")["path"].iloc[0]
    (faces_dir / broken).write_bytes(b"not an image")
    for path in faces.query("video.str.startswith('train_real')")["path"]:
        (faces_dir / path).write_bytes(b"")
    (faces_dir / faces.query("video == 'train_real_000'")["path"].iloc[0]).unlink()
    datamodule = make_datamodule(index, faces_dir, eval_batch_size=16)
    datamodule.setup("fit")

    val = list(datamodule.val_dataloader())
    assert sum(len(b["video"]) for b in val) == 15  # 16 crops, one left out
    assert any(broken in message for b in val for message in b["skipped"])

    with pytest.raises(RuntimeError, match="in a row were unreadable"):
        next(iter(datamodule.train_dataloader()))


def test_detect_training_replaces_an_unreadable_crop(face_dataset):
    index, faces_dir = face_dataset
    faces = pd.read_csv(faces_dir / "faces.csv")
    broken = faces.query("video == 'train_fake_001' and face_rank == 0")["path"]
    for path in broken:
        (faces_dir / path).write_bytes(b"")
    datamodule = make_datamodule(index, faces_dir)
    datamodule.setup("fit")
    batches = list(datamodule.train_dataloader())
    assert all(b["label"].sum() == 2 and len(b["label"]) == 4 for b in batches)
    skipped = [message for b in batches for message in b["skipped"]]
    assert all("train_fake_001" in message for message in skipped)
    assert not any("train_fake_001" in video for b in batches for video in b["video"])


def test_detect_missing_inputs_fail_with_one_clear_message(face_dataset, tmp_path, caplog):
    index, faces_dir = face_dataset
    with pytest.raises(FileNotFoundError, match="Video index .*nope.csv does not exist"):
        make_datamodule(tmp_path / "nope.csv", faces_dir).prepare_data()
    with pytest.raises(
        FileNotFoundError, match=r"faces.csv does not exist: .*python -m datamodules.extraction"
    ):
        make_datamodule(index, tmp_path / "no_faces").setup("fit")

    no_val = pd.read_csv(index, dtype={"video": str})
    no_val = no_val[no_val["split"] != "val"]
    builder = functools.partial(lambda table: table.copy(), no_val)
    datamodule = make_datamodule(builder, faces_dir)
    datamodule.setup("test")  # test needs no validation split
    with pytest.raises(ValueError, match=r"The val split has no face crops .*train 8, val 0"):
        datamodule.setup("fit")

    fewer = pd.read_csv(faces_dir / "faces.csv").query("video != 'train_real_003'")
    fewer.to_csv(faces_dir / "faces.csv", index=False)
    with caplog.at_level(logging.WARNING):
        make_datamodule(index, faces_dir).setup("fit")
    assert "1 of 16 videos of the index have no faces" in caplog.text


def test_detect_an_index_that_leaks_across_splits_is_reported(face_dataset, caplog):
    index, faces_dir = face_dataset
    table = pd.read_csv(index, dtype={"video": str}, keep_default_na=False)
    table.loc[table["video"] == "test_fake_000", "original"] = "val_real_000"  # test <- val
    leaky = functools.partial(lambda rows: rows.copy(), table)
    with caplog.at_level(logging.WARNING):
        make_datamodule(leaky, faces_dir).setup("fit")
    assert "1 originals have videos in several splits (e.g. val_real_000)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_datamodule(index, faces_dir).setup("fit")
    assert "several splits" not in caplog.text


def test_detect_prepare_data_runs_the_extraction_when_faces_are_missing(
    face_dataset, tmp_path, monkeypatch
):
    index, faces_dir = face_dataset
    calls = []

    def extract_faces(index_df, output_dir, **settings):
        calls.append((len(index_df), output_dir, settings))
        (output_dir / "faces.csv").write_text((faces_dir / "faces.csv").read_text())
        return pd.read_csv(output_dir / "faces.csv")

    monkeypatch.setitem(
        sys.modules,
        "datamodules.extraction.extract",
        types.SimpleNamespace(extract_faces=extract_faces),
    )
    output = tmp_path / "extracted"
    output.mkdir()
    for crop in (faces_dir / "crops").iterdir():
        (output / "crops").mkdir(exist_ok=True)
        (output / "crops" / crop.name).symlink_to(crop)
    datamodule = make_datamodule(index, output, extract={"detector": "mtcnn"})
    datamodule.prepare_data()
    datamodule.prepare_data()  # complete now: nothing to do
    assert calls == [(16, output, {"detector": "mtcnn", "crop": CropSettings()})]
    datamodule.setup("fit")
    assert len(datamodule.splits["train"]) == 32


def test_detect_numeric_looking_video_ids_stay_strings(face_dataset):
    index, faces_dir = face_dataset
    table = pd.read_csv(index)
    faces = pd.read_csv(faces_dir / "faces.csv")
    renames = {video: f"{number:03d}" for number, video in enumerate(table["video"])}
    table["video"] = table["video"].map(renames)
    faces["video"] = faces["video"].map(renames)
    table.to_csv(index, index=False)
    faces.to_csv(faces_dir / "faces.csv", index=False)
    datamodule = make_datamodule(index, faces_dir)
    datamodule.setup("test")
    assert "000" in set(datamodule.video_index()["video"])
    assert next(iter(datamodule.test_dataloader()))["video"][0].startswith("0")


def test_detect_augmentation_is_seeded_per_worker():
    image = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    transform = face_transform(32, icpr_augmentation(compression_p=1.0, noise_p=1.0))
    outputs = []
    for seed in (1, 1, 2):
        transform.set_random_seed(seed)
        outputs.append(transform(image=image)["image"])
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_detect_prepare_data_counts_a_no_face_video_as_done(face_dataset, tmp_path, monkeypatch):
    from datamodules.extraction.log import STATUS_COLUMNS

    index, faces_dir = face_dataset
    output = tmp_path / "extracted"
    output.mkdir()
    faces = pd.read_csv(faces_dir / "faces.csv")
    faces.query("video != 'train_real_003'").to_csv(output / "faces.csv", index=False)
    status = pd.DataFrame({"video": sorted(set(faces["video"]))}).reindex(columns=STATUS_COLUMNS)
    status[["faces", "frames_sampled", "frames_with_face", "num_frames", "height", "width"]] = 0
    status["status"] = ["no_face" if v == "train_real_003" else "ok" for v in status["video"]]
    calls = []
    monkeypatch.setitem(
        sys.modules,
        "datamodules.extraction.extract",
        types.SimpleNamespace(extract_faces=lambda *args, **kwargs: calls.append(args)),
    )
    datamodule = make_datamodule(index, output, extract={"detector": "mtcnn"})

    status.query("video != 'train_real_003'").to_csv(output / "videos.csv", index=False)
    datamodule.prepare_data()  # no status row for it: extraction is unfinished
    assert len(calls) == 1

    status.to_csv(output / "videos.csv", index=False)
    datamodule.prepare_data()  # "no_face" is a finished video: nothing to do
    assert len(calls) == 1
