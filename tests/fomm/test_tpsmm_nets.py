"""The TPSMM networks: official state-dict layout, the TPS transform, TPS dropout, shapes."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from tpsmm_tiny import tiny_params

from fomm.nets.blocks import AntiAliasInterpolation2d
from fomm.tpsmm.nets import ThinPlateSpline, build_tpsmm_networks, dropout_softmax

RECIPES = Path(__file__).resolve().parents[2] / "conf" / "recipe"
OFFICIAL = {"vox-256": "vox", "taichi-256": "taichi", "mgif-256": "mgif", "ted-384": "ted"}


def _reference_entries(path):
    entries = {}
    for line in path.read_text().splitlines():
        name, rest = line.split(" ", 1)
        shape_text, dtype = rest.rsplit(" ", 1)
        shape = tuple(int(v) for v in shape_text.strip("()").split(",") if v.strip())
        entries[name] = (shape, dtype)
    return entries


@pytest.mark.reference
@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_recipe_builds_the_official_state_dict(reference_dir, name):
    path = reference_dir / "tpsmm" / "state_dict_keys" / f"{name}.keys.txt"
    expected = _reference_entries(path)
    model_params = OmegaConf.load(RECIPES / f"tpsmm_{OFFICIAL[name]}.yaml").model.model_params
    with torch.device("meta"):
        networks = build_tpsmm_networks(model_params)
    ours = {
        k: (tuple(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in networks.state_dict().items()
    }
    assert ours == expected
    assert (networks.bg_predictor is None) == (name == "mgif-256")


def _points(batch, count, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, count, 5, 2, generator=generator) * 1.6 - 0.8


def test_tps_maps_its_control_points_exactly_without_regularization():
    driving, source = _points(2, 3, 0), _points(2, 3, 1)
    spline = ThinPlateSpline.fit(driving, source, regularization=0)
    torch.testing.assert_close(spline.warp_points(driving), source, atol=1e-4, rtol=0)
    # The official regularisation only nearly interpolates, and differs measurably.
    official = ThinPlateSpline.fit(driving, source)
    error = (official.warp_points(driving) - source).abs().max()
    assert 1e-4 < error < 0.2


def test_tps_between_equal_point_sets_is_the_identity():
    points = _points(2, 3, 2)
    spline = ThinPlateSpline.fit(points, points, regularization=0)
    grid = spline.sampling_grid((9, 11))
    assert grid.shape == (2, 3, 9, 11, 2)
    xs, ys = torch.linspace(-1, 1, 11), torch.linspace(-1, 1, 9)
    identity = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    torch.testing.assert_close(grid, identity.expand_as(grid), atol=1e-4, rtol=0)


def test_tps_reproduces_an_affine_map_everywhere():
    source_points = _points(1, 1, 3)
    matrix = torch.tensor([[1.1, 0.2], [-0.1, 0.9]])
    shift = torch.tensor([0.05, -0.1])
    spline = ThinPlateSpline.fit(source_points, source_points @ matrix.T + shift, regularization=0)
    anywhere = torch.rand(1, 1, 50, 2) * 2 - 1
    torch.testing.assert_close(
        spline.warp_points(anywhere), anywhere @ matrix.T + shift, atol=1e-4, rtol=0
    )


def test_dropout_softmax_drops_whole_transforms_and_renormalises():
    logits = torch.randn(64, 5, 6, 7, generator=torch.Generator().manual_seed(0))
    weights = dropout_softmax(logits, 0.5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(weights.sum(1), torch.ones(64, 6, 7), atol=1e-5, rtol=0)
    dropped = weights.amax(dim=(2, 3)) == 0
    assert not dropped[:, 0].any(), "the background transform is never dropped"
    assert 0.3 < dropped[:, 1:].float().mean() < 0.7
    # Each image's weights are the softmax restricted to its kept transforms.
    keep = ~dropped[0]
    torch.testing.assert_close(weights[0, keep], torch.softmax(logits[0, keep], dim=0))
    torch.testing.assert_close(dropout_softmax(logits, 0.0), torch.softmax(logits, 1))
    with pytest.raises(ValueError, match="dropout_p"):
        dropout_softmax(logits, 1.0)


@pytest.mark.parametrize(("bg", "multi_mask"), [(True, True), (False, False)])
def test_tiny_networks_run_forward_and_backward(bg, multi_mask):
    torch.manual_seed(0)
    networks = build_tpsmm_networks(tiny_params(bg=bg, multi_mask=multi_mask))
    source, driving = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    kp_source = networks.kp_detector(source)
    kp_driving = networks.kp_detector(driving)
    assert kp_source["fg_kp"].shape == (2, 10, 2) and kp_source["fg_kp"].abs().max() < 1
    bg_param = networks.bg_predictor(source, driving) if bg else None
    if bg:
        torch.testing.assert_close(bg_param, torch.eye(3).expand(2, 3, 3))
    motion = networks.dense_motion_network(
        source_image=source,
        kp_driving=kp_driving,
        kp_source=kp_source,
        bg_param=bg_param,
        dropout_flag=True,
        dropout_p=0.3,
    )
    assert motion["deformation"].shape == (2, 16, 16, 2)
    assert motion["contribution_maps"].shape == (2, 3, 16, 16)
    assert motion["deformed_source"].shape == (2, 3, 3, 16, 16)
    sizes = [m.shape[-1] for m in motion["occlusion_map"]]
    assert sizes == ([8, 16, 32, 64] if multi_mask else [16])
    out = networks.inpainting_network(source, motion)
    assert out["prediction"].shape == out["deformed"].shape == (2, 3, 64, 64)
    warped = out["warped_encoder_maps"]
    driving_maps = networks.inpainting_network.encode_occluded(driving, motion["occlusion_map"])
    assert [m.shape for m in reversed(warped)] == [m.shape for m in driving_maps]
    assert not any(m.requires_grad for m in driving_maps)
    out["prediction"].mean().backward()
    assert networks.kp_detector.fg_encoder.fc.weight.grad.abs().sum() > 0
    assert networks.dense_motion_network.maps.weight.grad.abs().sum() > 0
    if bg:
        assert networks.bg_predictor.bg_encoder.fc.weight.grad.abs().sum() > 0
    avd = networks.avd_network.eval()(kp_source, kp_driving)
    assert avd["fg_kp"].shape == (2, 10, 2)


def test_single_source_broadcasts_in_the_avd_network():
    networks = build_tpsmm_networks(tiny_params()).eval()
    kp_source = {"fg_kp": torch.rand(1, 10, 2)}
    kp_driving = {"fg_kp": torch.rand(3, 10, 2)}
    batched = networks.avd_network(kp_source, kp_driving)["fg_kp"]
    one = networks.avd_network(kp_source, {"fg_kp": kp_driving["fg_kp"][2:]})["fg_kp"]
    torch.testing.assert_close(batched[2:], one)


def test_bad_model_params_get_clear_messages():
    params = tiny_params()
    del params["dense_motion_params"]
    with pytest.raises(ValueError, match="dense_motion_params"):
        build_tpsmm_networks(params)
    params = tiny_params()
    params["generator_params"]["max_features"] = 64
    with pytest.raises(ValueError, match="max_features"):
        build_tpsmm_networks(params)
    params = tiny_params()
    params["generator_params"].update(num_down_blocks=2, max_features=16)
    with pytest.raises(ValueError, match="num_down_blocks must be 3"):
        build_tpsmm_networks(params)
    params["common_params"]["multi_mask"] = False
    assert build_tpsmm_networks(params).inpainting_network.num_down_blocks == 2
    params = tiny_params()
    params["common_params"]["unknown"] = 1
    with pytest.raises(ValueError, match="bad TPSMM model_params"):
        build_tpsmm_networks(params)


def test_antialias_blurs_with_the_stored_kernel_after_a_load():
    """A loaded kernel that is not separable (e.g. fp16-rounded) must be used as stored."""
    parent = torch.nn.Sequential(AntiAliasInterpolation2d(3, 0.25))
    image = torch.rand(1, 3, 32, 32)
    parent(image)  # decides the Gaussian is separable
    kernel = torch.rand(3, 1, 13, 13, generator=torch.Generator().manual_seed(0))
    parent.load_state_dict({"0.weight": kernel})
    block = parent[0]
    padded = torch.nn.functional.pad(image, (block.ka, block.kb, block.ka, block.kb))
    expected = torch.nn.functional.conv2d(padded, kernel, groups=3)[:, :, ::4, ::4]
    torch.testing.assert_close(parent(image), expected)
