import pytest
import torch
from fomm_official_table import DIFFERENCES, official_config

from fomm.nets import build_networks
from fomm.nets.blocks import AntiAliasInterpolation2d
from fomm.nets.geometry import inverse_2x2, make_coordinate_grid


def _reference_keys(path):
    entries = {}
    for line in path.read_text().splitlines():
        name, rest = line.split(" ", 1)
        shape = tuple(int(v) for v in rest.rsplit(")", 1)[0].strip("(").split(",") if v.strip())
        entries[name] = shape
    return entries


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_state_dict_matches_official_names_and_shapes(reference_dir, name):
    expected = _reference_keys(reference_dir / "fomm" / "state_dict_keys" / f"{name}.keys.txt")
    with torch.device("meta"):
        networks = build_networks(official_config(name)["model_params"])
    ours = {k: tuple(v.shape) for k, v in networks.state_dict().items()}
    assert ours == expected


def _tiny_params(disc=None, kp=None, estimate_jacobian=True, occlusion=True):
    return {
        "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": estimate_jacobian},
        "kp_detector_params": {
            "temperature": 0.1,
            "block_expansion": 4,
            "max_features": 16,
            "scale_factor": 0.5,
            "num_blocks": 3,
            **(kp or {}),
        },
        "generator_params": {
            "block_expansion": 4,
            "max_features": 16,
            "num_down_blocks": 2,
            "num_bottleneck_blocks": 1,
            "estimate_occlusion_map": occlusion,
            "dense_motion_params": {
                "block_expansion": 4,
                "max_features": 16,
                "num_blocks": 3,
                "scale_factor": 0.5,
            },
        },
        "discriminator_params": {
            "scales": [1],
            "block_expansion": 4,
            "max_features": 16,
            "num_blocks": 4,
            **(disc or {}),
        },
    }


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"disc": {"sn": True}},
        {"disc": {"use_kp": True}},
        {"kp": {"single_jacobian_map": True}},
        {"estimate_jacobian": False, "occlusion": False},
        {"disc": {"scales": [1, 0.5], "num_blocks": 3}},
    ],
    ids=["plain", "sn", "use_kp", "single_jacobian", "zero_order", "two_scales"],
)
def test_output_shapes(variant):
    torch.manual_seed(0)
    nets = build_networks(_tiny_params(**variant)).eval()
    source, driving = torch.rand(1, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        kp_source, kp_driving = nets.kp_detector(source), nets.kp_detector(driving)
        assert kp_driving["value"].shape == (2, 4, 2)
        assert kp_driving["value"].abs().max() <= 1
        if variant.get("estimate_jacobian", True):
            assert kp_driving["jacobian"].shape == (2, 4, 2, 2)
        else:
            assert "jacobian" not in kp_driving
        out = nets.generator(
            source.expand(2, -1, -1, -1),
            kp_driving=kp_driving,
            kp_source={k: v.expand(2, *v.shape[1:]) for k, v in kp_source.items()},
        )
        assert out["prediction"].shape == (2, 3, 64, 64)
        assert out["mask"].shape == (2, 5, 32, 32)
        torch.testing.assert_close(out["mask"].sum(1), torch.ones(2, 32, 32))
        assert out["sparse_deformed"].shape == (2, 5, 3, 32, 32)
        assert out["deformed"].shape == (2, 3, 64, 64)
        assert ("occlusion_map" in out) == variant.get("occlusion", True)
        scales = nets.discriminator.scales
        pyramid = {f"prediction_{s}": torch.rand(2, 3, int(64 * s), int(64 * s)) for s in scales}
        maps = nets.discriminator(pyramid, kp=kp_driving)
        for scale in scales:
            assert len(maps[f"feature_maps_{scale}"]) == variant.get("disc", {}).get(
                "num_blocks", 4
            )
            assert maps[f"prediction_map_{scale}"].shape[:2] == (2, 1)


def test_batch_one_source_broadcasts_over_driving_batch():
    torch.manual_seed(0)
    nets = build_networks(_tiny_params()).eval()
    source, driving = torch.rand(1, 3, 64, 64), torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        kp_source, kp_driving = nets.kp_detector(source), nets.kp_detector(driving)
        broadcast = nets.generator(source, kp_driving=kp_driving, kp_source=kp_source)
        for i in range(3):
            single = nets.generator(
                source,
                kp_driving={k: v[i : i + 1] for k, v in kp_driving.items()},
                kp_source=kp_source,
            )
            torch.testing.assert_close(broadcast["prediction"][i : i + 1], single["prediction"])


def test_jacobian_head_starts_at_identity():
    nets = build_networks(_tiny_params())
    kp = nets.kp_detector(torch.rand(2, 3, 64, 64))
    torch.testing.assert_close(kp["jacobian"], torch.eye(2).expand(2, 4, 2, 2))


def test_anti_alias_keeps_every_kth_pixel_of_the_blur():
    down = AntiAliasInterpolation2d(3, 0.25)
    assert down.weight.shape == (3, 1, 13, 13)
    image = torch.rand(2, 3, 64, 64)
    blurred = torch.nn.functional.conv2d(
        torch.nn.functional.pad(image, (6, 6, 6, 6)), down.weight, groups=3
    )
    expected = torch.nn.functional.interpolate(blurred, scale_factor=(0.25, 0.25))
    torch.testing.assert_close(down(image), expected)
    assert AntiAliasInterpolation2d(3, 1.0)(image) is image


def test_geometry_helpers():
    grid = make_coordinate_grid((3, 5))
    assert grid.shape == (3, 5, 2)
    torch.testing.assert_close(grid[0, 0], torch.tensor([-1.0, -1.0]))
    torch.testing.assert_close(grid[2, 4], torch.tensor([1.0, 1.0]))
    assert grid[0, 1, 0] > grid[0, 0, 0] and grid[1, 0, 1] > grid[0, 0, 1]  # x first, then y
    matrices = torch.randn(6, 2, 2) + 3 * torch.eye(2)
    torch.testing.assert_close(inverse_2x2(matrices), torch.inverse(matrices))


def test_bad_model_params_say_what_is_wrong():
    params = _tiny_params()
    del params["generator_params"]
    with pytest.raises(ValueError, match="generator_params"):
        build_networks(params)
    params = _tiny_params(kp={"temprature": 0.1})
    with pytest.raises(ValueError, match="temprature"):
        build_networks(params)
