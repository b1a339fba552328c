"""The TPSMM importer against the official code's outputs (shared/reference/tpsmm/vox-small)."""

import logging

import numpy as np
import pytest
import torch
import yaml

import fomm
from fomm.tpsmm.inference import TPSMMAnimator, animate, relative_control_points
from fomm.tpsmm.nets import TPSMMNetworks

pytestmark = pytest.mark.reference
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def vox_small(reference_dir):
    folder = reference_dir / "tpsmm" / "vox-small"
    networks = fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", folder / "config.yaml")
    expected = dict(np.load(folder / "expected.npz"))
    return folder, networks, expected


def _check(actual, expected, name, errors):
    error = float(np.abs(actual.detach().float().numpy() - expected[name]).max())
    errors[name] = error
    assert error <= TOLERANCE, f"{name}: max abs error {error}"


def test_every_array_matches_the_official_code(vox_small):
    _, networks, expected = vox_small
    assert isinstance(networks, TPSMMNetworks)
    assert not networks.training
    assert all(p.dtype == torch.float32 for p in networks.parameters())
    source, driving = torch.tensor(expected["source"]), torch.tensor(expected["driving"])
    errors = {}
    with torch.no_grad():
        kp_source = networks.kp_detector(source)
        kp_driving = networks.kp_detector(driving)
        sources = source.expand(3, -1, -1, -1)
        kp_sources = {"fg_kp": kp_source["fg_kp"].expand(3, -1, -1)}
        bg_param = networks.bg_predictor(sources, driving)
        motion = networks.dense_motion_network(
            source_image=sources,
            kp_driving=kp_driving,
            kp_source=kp_sources,
            bg_param=bg_param,
            dropout_flag=False,
        )
        generated = networks.inpainting_network(sources, motion)
    _check(kp_source["fg_kp"], expected, "kp_source_fg_kp", errors)
    _check(kp_driving["fg_kp"], expected, "kp_driving_fg_kp", errors)
    _check(bg_param, expected, "bg_param", errors)
    _check(motion["deformation"], expected, "dense_motion_deformation", errors)
    _check(motion["contribution_maps"], expected, "dense_motion_contribution_maps", errors)
    assert len(motion["occlusion_map"]) == 4
    for i, mask in enumerate(motion["occlusion_map"]):
        _check(mask, expected, f"dense_motion_occlusion_map_{i}", errors)
    _check(generated["prediction"], expected, "inpainting_prediction", errors)
    _check(generated["deformed"], expected, "inpainting_deformed", errors)
    for mode in ("relative", "avd"):
        animator = TPSMMAnimator(networks, source, mode=mode)
        animator.set_initial(driving[0])
        out = animator(driving)
        _check(out["kp_norm"]["fg_kp"], expected, f"animate_{mode}_fg_kp", errors)
        _check(out["prediction"], expected, f"animate_{mode}_prediction", errors)
    inputs = {"source", "driving"}
    assert set(errors) == set(expected) - inputs, "every reference array is checked"
    print("max abs error per array:", {k: f"{v:.1e}" for k, v in errors.items()})


def test_animation_in_batches_equals_frame_by_frame(vox_small):
    _, networks, expected = vox_small
    source, driving = torch.tensor(expected["source"]), torch.tensor(expected["driving"])
    batched = animate(networks, source[0], driving, mode="relative", batch_size=2)
    reference = torch.tensor(expected["animate_relative_prediction"])
    torch.testing.assert_close(batched, reference, atol=TOLERANCE, rtol=0)
    with torch.no_grad():
        kp_source = networks.kp_detector(source)
        kp_driving = networks.kp_detector(driving)
        kp_initial = networks.kp_detector(driving[1:2])
    from_frame_1 = TPSMMAnimator(networks, source, mode="relative")
    from_frame_1.set_initial(driving[1])
    moved = relative_control_points(kp_source, kp_driving, kp_initial)
    torch.testing.assert_close(from_frame_1.control_points(kp_driving)["fg_kp"], moved["fg_kp"])
    standard = TPSMMAnimator(networks, source, mode="standard")
    assert standard.control_points(kp_driving) is kp_driving
    with pytest.raises(ValueError, match="mode must be one of"):
        animate(networks, source, driving, mode="absolute")


def _write_config(tmp_path, folder, change):
    config = yaml.safe_load((folder / "config.yaml").read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_optional_networks_and_wrong_pairs_get_clear_messages(vox_small, tmp_path, caplog):
    folder, _, expected = vox_small
    checkpoint = torch.load(folder / "checkpoint.pth.tar", weights_only=True)
    without = {k: v for k, v in checkpoint.items() if k not in ("avd_network", "bg_predictor")}
    path = tmp_path / "no-avd.pth.tar"
    torch.save(without, path)
    with caplog.at_level(logging.WARNING):
        networks = fomm.load_official_checkpoint(path, folder / "config.yaml")
    assert networks.avd_network is None and networks.bg_predictor is None
    assert "no bg_predictor" in caplog.text
    with pytest.raises(ValueError, match="needs a trained AVD network"):
        animate(
            networks, torch.tensor(expected["source"]), torch.tensor(expected["driving"]), "avd"
        )
    no_bg = _write_config(
        tmp_path, folder, lambda c: c["model_params"]["common_params"].update(bg=False)
    )
    with pytest.raises(ValueError, match="bg: false"):
        fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", no_bg)
    wider = _write_config(
        tmp_path,
        folder,
        lambda c: c["model_params"]["generator_params"].update(
            block_expansion=16, max_features=128
        ),
    )
    with pytest.raises(ValueError, match="inpainting_network weights .* do not fit"):
        fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", wider)
    fomm_folder = folder.parent.parent / "fomm" / "vox-small"
    with pytest.raises(ValueError, match="looks like an FOMM checkpoint"):
        fomm.load_official_checkpoint(fomm_folder / "checkpoint.pth.tar", folder / "config.yaml")
    with pytest.raises(ValueError, match="not an FOMM checkpoint"):
        fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", fomm_folder / "config.yaml")
