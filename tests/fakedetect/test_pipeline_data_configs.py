import hydra
import pandas as pd
import pytest
from pipeline_media import write_face_video

from datamodules.faces import FaceDataModule
from datamodules.indexes.celebdf import celebdf_index
from datamodules.indexes.dfdc import dfdc_index
from datamodules.indexes.ffpp import ffpp_index
from datamodules.indexes.folder import folder_index


@pytest.mark.parametrize(
    ("name", "builder", "faces"),
    [
        ("ffpp", ffpp_index, "faces/ffpp_c23"),
        ("dfdc", dfdc_index, "faces/dfdc"),
        ("celebdf", celebdf_index, "faces/celebdf"),
        ("folder", folder_index, "faces/folder"),
    ],
)
def test_data_configs_build_a_face_datamodule(make_cfg, tmp_path, name, builder, faces):
    cfg = make_cfg([f"data={name}", "model=effnet_b4", "model.net.pretrained=false"])
    datamodule = hydra.utils.instantiate(cfg.data)
    assert isinstance(datamodule, FaceDataModule)
    assert datamodule.index.func is builder
    assert datamodule.faces_dir == tmp_path / "data" / faces
    assert datamodule.extract["frames_per_video"] == 32 and datamodule.extract["size"] == 224
    assert datamodule.extract["policy"] == "scale"


def test_folder_dataset_extracts_its_faces_at_start_up(make_cfg, tmp_path):
    videos = tmp_path / "data" / "videos"
    rows = []
    for split in ("train", "val", "test"):
        for label in (0, 1):
            name = f"{split}_{label}.mp4"
            write_face_video(videos / name, num_frames=4)
            rows.append({"path": name, "label": label, "split": split})
    pd.DataFrame(rows).to_csv(videos / "labels.csv", index=False)
    cfg = make_cfg(
        [
            "data=folder",
            "model=effnet_b4",
            "data.extract.workers=0",
            "data.extract.frames_per_video=2",
            "data.extract.detector.min_face_size=20",
            "data.extract.detector.device=cpu",
            "data.num_workers=0",
            "data.eval_batch_size=4",
        ]
    )
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    faces = pd.read_csv(datamodule.faces_csv)
    assert len(faces) == 12 and faces["video"].nunique() == 6
    datamodule.setup("test")
    batch = next(iter(datamodule.test_dataloader()))
    assert batch["image"].shape == (4, 3, 224, 224)
    assert sorted(set(batch["video"])) == ["test_0", "test_1"]
