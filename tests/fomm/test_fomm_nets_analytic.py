"""The FOMM networks' geometry against values worked out by hand, one formula at a time.

The reference comparison (test_fomm_reference.py) checks everything at once against the
official code, within a tolerance; these pin each formula of the paper exactly, so a
loosened tolerance cannot hide a bug in one of them.
"""

import math

import pytest
import torch
from torch import nn

from fomm.inference import movement_scale, normalize_kp
from fomm.nets import KPDetector
from fomm.nets.dense_motion import DenseMotionNetwork
from fomm.nets.generator import OcclusionAwareGenerator
from fomm.nets.geometry import make_coordinate_grid


class FixedMaps(nn.Module):
    """Stands for a convolution head: returns the same maps whatever its input."""

    def __init__(self, maps: torch.Tensor) -> None:
        super().__init__()
        self.maps = maps

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.maps.expand(features.shape[0], *self.maps.shape[1:])


def test_keypoint_is_the_mean_of_the_heatmap_softmax_at_its_temperature():
    """Two pixels whose logits differ by T ln 3 (the rest far lower) weigh 1:3 at temperature T."""
    temperature, size = 0.1, 9
    detector = KPDetector(4, 1, 3, 16, 2, temperature=temperature, estimate_jacobian=True)
    first, second = (2, 3), (6, 5)  # (row, column)
    logits = torch.full((1, 1, size, size), -1e4)
    logits[0, 0, first[0], first[1]] = 0.0
    logits[0, 0, second[0], second[1]] = temperature * math.log(3)
    jacobian_maps = torch.zeros(1, 4, size, size)
    jacobian_maps[0, :, first[0], first[1]] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    jacobian_maps[0, :, second[0], second[1]] = torch.tensor([5.0, -1.0, 0.0, 1.0])
    detector.predictor = nn.Identity()
    detector.kp, detector.jacobian = FixedMaps(logits), FixedMaps(jacobian_maps)

    kp = detector(torch.rand(2, 3, size, size))
    grid = make_coordinate_grid((size, size))
    expected = (grid[first] + 3 * grid[second]) / 4
    torch.testing.assert_close(kp["value"], expected.expand(2, 1, 2))
    jacobian = (torch.tensor([[1.0, 2.0], [3.0, 4.0]]) + 3 * torch.tensor([[5.0, -1], [0, 1]])) / 4
    torch.testing.assert_close(kp["jacobian"], jacobian.expand(2, 1, 2, 2))


def test_sparse_motion_takes_driving_neighbourhoods_to_the_source_by_the_jacobians():
    """Motion k is z -> p_S + J_S J_D^-1 (z - p_D): J_D J_S^-1 (T(z) - p_S) = z - p_D exactly.

    J_S and J_D do not commute, and neither is symmetric, so an inverse left out, taken
    of the wrong matrix or applied on the wrong side moves the points elsewhere.
    """
    network = DenseMotionNetwork(4, 2, 16, num_kp=2, num_channels=3)
    jacobian_driving = torch.tensor([[[2.0, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.7, 0.5]]])
    jacobian_source = torch.tensor([[[0.8, -0.3], [0.2, 1.1]], [[1.5, 0.4], [0.0, 0.9]]])
    kp_driving = {
        "value": torch.tensor([[[0.2, -0.4], [-0.5, 0.3]]]),
        "jacobian": jacobian_driving[None],
    }
    kp_source = {
        "value": torch.tensor([[[-0.1, 0.1], [0.4, 0.6]]]),
        "jacobian": jacobian_source[None],
    }
    size = (5, 7)
    motions = network.create_sparse_motions(size, kp_driving, kp_source)
    grid = make_coordinate_grid(size)
    assert motions.shape == (1, 3, 5, 7, 2)
    torch.testing.assert_close(motions[0, 0], grid)  # the background does not move
    for k in range(2):
        back = jacobian_driving[k] @ torch.linalg.inv(jacobian_source[k])
        moved = motions[0, k + 1] - kp_source["value"][0, k]
        recovered = torch.einsum("ij,hwj->hwi", back, moved)
        torch.testing.assert_close(recovered, grid - kp_driving["value"][0, k])


def _generator_with_occlusion(probability: float | None) -> OcclusionAwareGenerator:
    """A tiny generator whose occlusion map is the constant ``probability`` (None: no map)."""
    torch.manual_seed(0)
    motion = {"block_expansion": 4, "max_features": 16, "num_blocks": 2, "scale_factor": 0.5}
    generator = OcclusionAwareGenerator(
        3, 2, 8, 32, num_down_blocks=1, num_bottleneck_blocks=1,
        estimate_occlusion_map=True, dense_motion_params=motion,
    ).eval()  # fmt: skip
    occlusion = generator.dense_motion_network.occlusion
    if probability is None:
        generator.dense_motion_network.occlusion = None
    else:
        with torch.no_grad():
            occlusion.weight.zero_()
            occlusion.bias.fill_(math.log(probability / (1 - probability)))
    return generator


def _bottleneck_input_and_prediction(generator, source, kp_driving, kp_source):
    seen = []
    hook = generator.bottleneck.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        out = generator(source, kp_driving=kp_driving, kp_source=kp_source)
    hook.remove()
    return seen[0], out


def test_occlusion_map_multiplies_the_warped_source_features():
    """Map 1 changes nothing; map 0.25 scales the warped features by 0.25; map 0 erases them."""
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(2, 3, 32, 32, generator=generator)
    kp_source = {
        "value": torch.rand(2, 2, 2, generator=generator) - 0.5,
        "jacobian": torch.eye(2).repeat(2, 2, 1, 1),
    }
    kp_driving = {"value": kp_source["value"] + 0.1, "jacobian": kp_source["jacobian"]}
    args = (source, kp_driving, kp_source)
    without, plain = _bottleneck_input_and_prediction(_generator_with_occlusion(None), *args)
    whole, kept = _bottleneck_input_and_prediction(_generator_with_occlusion(1 - 1e-7), *args)
    quarter, out = _bottleneck_input_and_prediction(_generator_with_occlusion(0.25), *args)
    assert out["occlusion_map"].shape == (2, 1, 16, 16)
    torch.testing.assert_close(out["occlusion_map"], torch.full((2, 1, 16, 16), 0.25))
    assert without.abs().mean() > 0.01
    torch.testing.assert_close(whole, without)
    torch.testing.assert_close(kept["prediction"], plain["prediction"])
    torch.testing.assert_close(quarter, 0.25 * without)
    erased, _ = _bottleneck_input_and_prediction(_generator_with_occlusion(1e-7), *args)
    assert erased.abs().max() < 1e-6


def test_relative_motion_is_scaled_by_the_square_root_of_the_hull_area_ratio():
    """A source whose keypoints spread twice as wide (4x the hull area) moves twice as far."""
    initial = torch.tensor([[[-0.2, -0.2], [0.2, -0.2], [0.2, 0.2], [-0.2, 0.2], [0.0, 0.1]]])
    source = {"value": 2 * initial + torch.tensor([0.1, -0.05])}
    kp_initial = {"value": initial}
    displacement = torch.tensor(
        [[[0.05, 0.0], [0.0, 0.02], [-0.03, 0.01], [0.0, 0.0], [0.01, 0.04]]]
    )
    driving = {"value": initial + displacement}
    assert movement_scale(source, kp_initial) == pytest.approx(2.0)
    adapted = normalize_kp(source, driving, kp_initial, True, use_relative_movement=True)
    torch.testing.assert_close(adapted["value"], source["value"] + 2 * displacement)
    plain = normalize_kp(source, driving, kp_initial, False, use_relative_movement=True)
    torch.testing.assert_close(plain["value"], source["value"] + displacement)
    absolute = normalize_kp(source, driving, kp_initial, True, use_relative_movement=False)
    torch.testing.assert_close(absolute["value"], driving["value"])


def test_relative_jacobian_carries_the_driving_change_onto_the_source():
    """J = J_D J_D0^-1 J_S: a driving Jacobian equal to the initial one leaves J_S as it is."""
    eye = torch.eye(2)
    source = {"value": torch.zeros(1, 1, 2), "jacobian": torch.tensor([[[[1.2, 0.3], [0.0, 0.9]]]])}
    initial = {
        "value": torch.zeros(1, 1, 2),
        "jacobian": torch.tensor([[[[0.5, 0.0], [0.4, 1.0]]]]),
    }
    change = torch.tensor([[1.0, 0.2], [-0.1, 1.1]])
    driving = {"value": torch.zeros(1, 1, 2), "jacobian": change @ initial["jacobian"]}
    options = {"use_relative_movement": True, "use_relative_jacobian": True}
    moved = normalize_kp(source, driving, initial, 1.0, **options)
    torch.testing.assert_close(moved["jacobian"], change @ source["jacobian"])
    still = normalize_kp(source, initial, initial, 1.0, **options)
    torch.testing.assert_close(still["jacobian"], eye @ source["jacobian"])
