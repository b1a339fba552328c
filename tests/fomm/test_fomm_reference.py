"""The importer against the outputs of the official code (../shared/reference/fomm/vox-small)."""

import numpy as np
import pytest
import torch

import fomm
from datamodules.training.checkpoints import UntrustedCheckpointError
from fomm.checkpoint import load_fomm
from fomm.inference import animate, normalize_kp

pytestmark = pytest.mark.reference
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def vox_small(reference_dir):
    folder = reference_dir / "fomm" / "vox-small"
    networks = fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", folder / "config.yaml")
    expected = dict(np.load(folder / "expected.npz"))
    return folder, networks, expected


def _close(actual, expected, name):
    error = np.abs(actual.detach().numpy() - expected[name]).max()
    assert error <= TOLERANCE, f"{name}: max abs error {error}"


def test_every_output_matches_the_official_code(vox_small):
    _, networks, expected = vox_small
    assert not networks.training
    source, driving = torch.tensor(expected["source"]), torch.tensor(expected["driving"])
    with torch.no_grad():
        kp_source = networks.kp_detector(source)
        kp_driving = networks.kp_detector(driving)
        generated = networks.generator(
            source.expand(3, -1, -1, -1),
            kp_source={k: v.expand(3, *v.shape[1:]) for k, v in kp_source.items()},
            kp_driving=kp_driving,
        )
        maps = networks.discriminator({"prediction_1": driving})
        kp_norm = normalize_kp(
            kp_source,
            kp_driving,
            {k: v[:1] for k, v in kp_driving.items()},
            adapt_movement_scale=True,
            use_relative_movement=True,
            use_relative_jacobian=True,
        )
    for part in ("value", "jacobian"):
        _close(kp_source[part], expected, f"kp_source_{part}")
        _close(kp_driving[part], expected, f"kp_driving_{part}")
        _close(kp_norm[part], expected, f"animate_relative_adapt_{part}")
    for part in ("prediction", "mask", "occlusion_map", "deformed", "sparse_deformed"):
        _close(generated[part], expected, f"generator_{part}")
    for i, feature_map in enumerate(maps["feature_maps_1"]):
        _close(feature_map, expected, f"discriminator_feature_maps_1_{i}")
    _close(maps["prediction_map_1"], expected, "discriminator_prediction_map_1")


def test_batched_animation_equals_frame_by_frame(vox_small):
    _, networks, expected = vox_small
    source, driving = torch.tensor(expected["source"]), torch.tensor(expected["driving"])
    batched = animate(source[0], driving, networks.kp_detector, networks.generator, batch_size=2)
    with torch.no_grad():
        kp_source = networks.kp_detector(source)
        initial = networks.kp_detector(driving[1:2])
        for i in range(3):
            kp_norm = normalize_kp(
                kp_source, networks.kp_detector(driving[i : i + 1]), initial, True, True, True
            )
            frame = networks.generator(source, kp_source=kp_source, kp_driving=kp_norm)
            if i == 0:
                from_initial_1 = animate(
                    source, driving, networks.kp_detector, networks.generator, initial_frame=1
                )
            torch.testing.assert_close(from_initial_1[i], frame["prediction"][0])
    assert batched.shape == (3, 3, 64, 64)
    absolute = animate(
        source, driving, networks.kp_detector, networks.generator, relative=False, batch_size=3
    )
    _close(absolute, {"p": expected["generator_prediction"]}, "p")


def test_bf16_animation_stays_close(vox_small):
    _, networks, expected = vox_small
    source, driving = torch.tensor(expected["source"]), torch.tensor(expected["driving"])
    full = animate(source, driving, networks.kp_detector, networks.generator)
    half = animate(
        source, driving, networks.kp_detector, networks.generator, autocast_dtype=torch.bfloat16
    )
    assert (full - half).abs().max() < 0.02


def test_load_fomm_finds_the_config_and_refuses_wrong_files(vox_small, tmp_path):
    folder, _, expected = vox_small
    networks = load_fomm(folder / "checkpoint.pth.tar", folder / "config.yaml")
    with torch.no_grad():
        kp = networks.kp_detector(torch.tensor(expected["source"]))
    _close(kp["value"], expected, "kp_source_value")
    with pytest.raises(ValueError, match="needs its config yaml"):
        load_fomm(folder / "checkpoint.pth.tar")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_fomm(folder / "config.yaml", folder / "config.yaml")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not an FOMM checkpoint"):
        load_fomm(tmp_path / "other.pth", folder / "config.yaml")
    with pytest.raises(FileNotFoundError):
        load_fomm(tmp_path / "missing.pth.tar", folder / "config.yaml")


class _Payload:
    """Stands for an arbitrary Python object that only full unpickling can restore."""


def test_pickled_objects_need_explicit_trust(vox_small, tmp_path):
    folder, _, _ = vox_small
    checkpoint = torch.load(folder / "checkpoint.pth.tar", weights_only=True)
    checkpoint["extra"] = _Payload()
    path = tmp_path / "pickled.pth.tar"
    torch.save(checkpoint, path)
    with pytest.raises(UntrustedCheckpointError, match="trust_checkpoint=true"):
        fomm.load_official_checkpoint(path, folder / "config.yaml")
    networks = fomm.load_official_checkpoint(path, folder / "config.yaml", trust_pickle=True)
    assert not networks.generator.training
