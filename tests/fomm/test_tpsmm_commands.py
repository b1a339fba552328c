"""A TPSMM checkpoint through the commands FOMM's go through: load, animate (modes), evaluate."""

import pandas as pd
import pytest
import torch
import yaml
from fomm_tool_media import draw_face, write_talking_video, write_tiny_checkpoint
from PIL import Image
from test_fomm_evaluate import make_cfg
from tpsmm_tiny import tiny_params

from fomm.animate import animate_files
from fomm.checkpoint import load_fomm
from fomm.evaluate import evaluate
from fomm.media import InputError
from fomm.tpsmm.inference import TPSMMAnimator
from fomm.tpsmm.nets import build_tpsmm_networks


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A random tiny TPSMM as an official .pth.tar + yaml and as our Lightning .ckpt."""
    folder = tmp_path_factory.mktemp("tpsmm_commands")
    torch.manual_seed(0)
    networks = build_tpsmm_networks(tiny_params())
    names = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor")
    official = folder / "tiny-tpsmm.pth.tar"
    states = {name: getattr(networks, name).state_dict() for name in (*names, "avd_network")}
    torch.save(states | {"epoch": 0}, official)
    config = folder / "tiny-tpsmm.yaml"
    layout = {"dataset_params": {"frame_shape": [64, 64, 3]}, "model_params": tiny_params()}
    config.write_text(yaml.safe_dump(layout))
    state = {f"networks.{k}": v for k, v in networks.state_dict().items()}
    lightning = folder / "stage1.ckpt"
    hparams = {"model_params": tiny_params(), "train_params": {}}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, lightning)
    avd_stage = folder / "avd.ckpt"
    hparams = {**hparams, "train_avd_params": {"lr": 1e-3}}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, avd_stage)
    source = folder / "source.png"
    Image.fromarray(draw_face(64, canvas=(64, 64), eye_gap=10)).save(source)
    driving = write_talking_video(folder / "driving.mp4", num_frames=5, fps=25, audio=False)
    return {
        "official": official,
        "config": config,
        "lightning": lightning,
        "avd_stage": avd_stage,
        "source": source,
        "driving": driving,
        "folder": folder,
    }


def test_our_checkpoints_carry_an_avd_network_only_from_the_avd_stage(files):
    assert load_fomm(files["lightning"]).avd_network is None
    assert load_fomm(files["avd_stage"]).avd_network is not None
    official = load_fomm(files["official"], files["config"])
    assert official.avd_network is not None and official.bg_predictor is not None


@pytest.mark.parametrize("mode", ["relative", "avd", "standard"])
def test_animate_takes_every_mode_for_a_tpsmm_checkpoint(files, tmp_path, mode):
    result = animate_files(
        files["source"],
        files["driving"],
        tmp_path / "out.mp4",
        checkpoint=files["official"],
        config=files["config"],
        mode=mode,
        device="cpu",
        progress=False,
    )
    assert result.num_frames == 5 and result.size == 64
    assert result.kp_animated.shape == (5, 10, 2)  # 2 transforms of 5 control points


def test_adapt_scale_false_moves_tpsmm_points_by_the_raw_displacements(files, tmp_path):
    networks = load_fomm(files["official"], files["config"])
    raw = animate_files(
        files["source"], files["driving"], tmp_path / "raw.mp4", networks=networks,
        mode="relative", adapt_scale=False, device="cpu", progress=False,
    )  # fmt: skip
    # relative motion: source points + (driving points - reference frame's points), unscaled
    expected = raw.kp_source + raw.kp_driving - raw.kp_driving[raw.best_frame]
    assert abs(raw.kp_animated - expected).max() < 1e-6
    # the demo's default scales by the hull areas' ratio (here not 1)
    source, reference = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    for adapt in (True, False):
        animator = TPSMMAnimator(networks, source, mode="relative", adapt_scale=adapt)
        animator.set_initial(reference)
        assert (abs(animator.scale - 1.0) > 1e-3) is adapt


def test_fomm_refuses_avd_and_any_model_an_unknown_mode(files, tmp_path):
    fomm_checkpoint, fomm_config = write_tiny_checkpoint(files["folder"], size=64)
    common = {"device": "cpu", "progress": False}
    with pytest.raises(InputError, match="AVD"):
        animate_files(
            files["source"], files["driving"], tmp_path / "a.mp4",
            checkpoint=fomm_checkpoint, config=fomm_config, mode="avd", **common,
        )  # fmt: skip
    with pytest.raises(InputError, match="relative, avd, standard"):
        animate_files(
            files["source"], files["driving"], tmp_path / "b.mp4",
            checkpoint=files["official"], config=files["config"], mode="absolute", **common,
        )  # fmt: skip


def test_evaluate_reconstructs_with_a_tpsmm_checkpoint(files, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_talking_video(videos / "a.mp4", num_frames=4, fps=25, audio=False)
    out = tmp_path / "eval"
    summary = evaluate(
        make_cfg(
            [
                f"checkpoint={files['lightning']}",
                f"videos={videos}",
                f"output_dir={out}",
                "save_videos=false",
                "device=cpu",
                "progress=false",
            ]
        )
    )
    table = pd.read_csv(out / "reconstruction.csv")
    assert list(table.video) == ["a"] and list(table.frames) == [4]
    assert 0 <= summary["l1"] <= 1
    # TPSMM's finest occlusion mask is measured like FOMM's single one.
    assert table.occluded_fraction.notna().all()
