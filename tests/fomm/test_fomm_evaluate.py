import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fomm_tool_media import (
    ColourFaceDetector,
    draw_face,
    probe,
    talking_frames,
    write_talking_video,
    write_tiny_checkpoint,
)
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fomm.checkpoint import load_fomm
from fomm.evaluate import evaluate
from fomm.media import InputError, to_tensor
from fomm.reconstruction import reconstruct

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("evaluate_model"), size=64)


def test_reconstruct_returns_predictions_l1_occlusion_and_keypoints(model_files):
    networks = load_fomm(*model_files)
    driving = to_tensor(talking_frames(5))
    result = reconstruct(networks, driving, batch_size=2, return_occlusion_maps=True)
    assert result.prediction.shape == driving.shape
    expected = (result.prediction - driving).abs().mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(result.l1, expected, rtol=1e-6)
    assert result.l1_mean == pytest.approx(expected.mean())
    assert result.occluded_fraction.shape == (5,)
    assert ((result.occluded_fraction >= 0) & (result.occluded_fraction <= 1)).all()
    maps = result.occlusion_maps.float()
    np.testing.assert_allclose(result.occluded_fraction, (maps < 0.5).float().mean(dim=(1, 2, 3)))
    assert result.kp_driving.shape == (5, 5, 2) and result.jacobian_driving.shape == (5, 5, 2, 2)
    # Frame 0 drives the source with its own keypoints.
    np.testing.assert_allclose(result.kp_driving[0], result.kp_source, atol=1e-5)


def test_reconstruct_takes_another_source_and_relative_motion(model_files):
    networks = load_fomm(*model_files)
    driving = to_tensor(talking_frames(4))
    other = to_tensor(draw_face(64, eye_gap=11)[None])[0]
    absolute = reconstruct(networks, driving, source=other)
    relative = reconstruct(networks, driving, source=other, relative=True, adapt_scale=True)
    assert not np.allclose(absolute.l1, relative.l1)
    assert torch.isfinite(relative.prediction).all()


def make_cfg(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=overrides)
    GlobalHydra.instance().clear()
    return cfg


def test_evaluate_a_folder_writes_tables_videos_and_resumes(model_files, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_talking_video(videos / "a.mp4", num_frames=6, fps=25, audio=False)
    write_talking_video(videos / "b.mp4", num_frames=4, fps=30, audio=True, height=80)
    (videos / "broken.mp4").write_bytes(b"\x00" * 200)
    out = tmp_path / "eval"
    checkpoint, config = model_files
    overrides = [
        f"checkpoint={checkpoint}",
        f"config={config}",
        f"videos={videos}",
        f"output_dir={out}",
        "side_by_side=true",
        "device=cpu",
        "progress=false",
    ]
    summary = evaluate(make_cfg(overrides))

    table = pd.read_csv(out / "reconstruction.csv")
    assert list(table.video) == ["a", "b"] and list(table.frames) == [6, 4]
    frames = pd.read_csv(out / "reconstruction_frames.csv")
    assert len(frames) == 10
    np.testing.assert_allclose(frames.groupby("video").l1.mean().to_numpy(), table.l1, rtol=1e-6)
    assert summary["l1"] == pytest.approx(frames.l1.mean())
    assert summary["videos"] == 2 and len(summary["skipped"]) == 1
    assert "broken.mp4" in summary["skipped"][0]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["akd_5point"] is None and on_disk["l1"] == pytest.approx(summary["l1"])
    info = probe(out / "videos" / "b.mp4")
    assert (info["width"], info["height"], info["frames"], info["fps"]) == (192, 64, 4, 30)

    # A rerun skips finished videos: deleting one's source proves it is not read again.
    (videos / "a.mp4").unlink()
    write_talking_video(videos / "c.mp4", num_frames=3, audio=False)
    summary = evaluate(make_cfg(overrides))
    table = pd.read_csv(out / "reconstruction.csv")
    assert list(table.video) == ["a", "b", "c"] and summary["frames"] == 13
    assert len(pd.read_csv(out / "reconstruction_frames.csv")) == 13


def test_keypoint_metrics_compare_landmarks_of_real_and_generated_frames(model_files, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_talking_video(videos / "a.mp4", num_frames=3, audio=False)
    checkpoint, config = model_files
    summary = evaluate(
        make_cfg(
            [
                f"checkpoint={checkpoint}",
                f"config={config}",
                f"videos={videos}",
                f"output_dir={tmp_path / 'eval'}",
                "keypoint_metrics=true",
                "save_videos=false",
                "device=cpu",
                "progress=false",
            ]
        ),
        detector=ColourFaceDetector(),
    )
    # A random model does not draw faces: every real face is lost in the generated frames.
    assert summary["missing_rate"] == 1.0 and np.isnan(summary["akd_5point"])
    assert not (tmp_path / "eval" / "videos").exists()


def test_evaluate_without_data_or_videos_says_what_to_pass(model_files, tmp_path):
    checkpoint, config = model_files
    cfg = make_cfg([f"checkpoint={checkpoint}", f"config={config}", f"output_dir={tmp_path}"])
    with pytest.raises(InputError, match="data=<dataset config>"):
        evaluate(cfg)


def test_evaluate_the_test_split_of_a_data_config(model_files, tmp_path):
    checkpoint, config = model_files
    cfg = make_cfg(
        [
            f"checkpoint={checkpoint}",
            f"config={config}",
            "data=embedded",
            f"paths.data_dir={tmp_path / 'data'}",
            "data.train_identities=1",
            "data.test_identities=2",
            "data.train_videos_per_identity=1",
            "data.test_videos_per_identity=1",
            "data.val_identities=0",  # evaluation reads test only: no val/ to generate
            "data.num_frames=5",
            "data.num_workers=0",
            "data.probe_workers=1",
            f"output_dir={tmp_path / 'eval'}",
            "device=cpu",
            "progress=false",
        ]
    )
    summary = evaluate(cfg)
    assert summary["videos"] == 2 and summary["frames"] == 10
    table = pd.read_csv(tmp_path / "eval" / "reconstruction.csv")
    info = probe(tmp_path / "eval" / "videos" / f"{table.video[0]}.mp4")
    assert (info["frames"], info["fps"], info["width"]) == (5, 25, 64)
