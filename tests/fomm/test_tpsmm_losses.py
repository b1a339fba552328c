"""TPSMM's training terms: random warp, equivariance, warp, background, AVD, dropout schedule."""

import pytest
import torch
from tpsmm_tiny import tiny_params

from fomm.tpsmm.losses import (
    avd_reconstruction_loss,
    background_cycle_loss,
    control_point_equivariance_loss,
    random_scale,
    warp_loss,
)
from fomm.tpsmm.nets import build_tpsmm_networks
from fomm.tpsmm.schedule import tps_dropout
from fomm.tpsmm.transforms import RandomTPSWarp

VOX = {"dropout_epoch": 35, "dropout_startp": 0.1, "dropout_maxp": 0.3, "dropout_inc_epoch": 10}


def _warp(sigma_affine=0.05, sigma_tps=0.005, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return RandomTPSWarp(batch, sigma_affine, sigma_tps, 5, generator=generator)


def test_random_warp_without_noise_is_the_identity():
    frames = torch.rand(2, 3, 16, 16)
    warp = _warp(sigma_affine=0.0, sigma_tps=0.0)
    torch.testing.assert_close(warp.transform_frame(frames), frames, atol=1e-5, rtol=0)


def test_random_warp_samples_frames_where_it_maps_coordinates():
    """Warping an image of its own x coordinate gives the warped x coordinate."""
    warp = _warp(sigma_affine=0.1, sigma_tps=0.02)
    size = 33
    ramp = torch.linspace(-1, 1, size)
    image = torch.stack([ramp.expand(size, size), ramp.view(-1, 1).expand(size, size)])
    warped = warp.transform_frame(image.expand(2, 2, size, size).contiguous())
    probes = torch.tensor([[[0.0, 0.0], [0.5, -0.25], [-0.5, 0.5]]])
    mapped = warp.warp_coordinates(probes)
    columns = ((probes[0, :, 0] + 1) / 2 * (size - 1)).round().long()
    rows = ((probes[0, :, 1] + 1) / 2 * (size - 1)).round().long()
    sampled = warped[:, :, rows, columns].permute(0, 2, 1)
    torch.testing.assert_close(sampled, mapped, atol=1e-3, rtol=0)
    assert (mapped - probes).abs().max() > 0.01


def test_equivariance_loss_compares_driving_points_with_warped_detections():
    warp = _warp(sigma_affine=0.1, sigma_tps=0.02)
    detected_in_warped = {"fg_kp": torch.rand(2, 10, 2) * 1.4 - 0.7}
    consistent = {"fg_kp": warp.warp_coordinates(detected_in_warped["fg_kp"])}
    assert control_point_equivariance_loss(consistent, detected_in_warped, warp) < 1e-6
    # Swapping the roles is not the same loss: the warp is applied to the second argument.
    assert control_point_equivariance_loss(detected_in_warped, consistent, warp) > 0.01
    shifted = {"fg_kp": consistent["fg_kp"] + 0.1}
    loss = control_point_equivariance_loss(shifted, detected_in_warped, warp)
    assert loss == pytest.approx(0.1, abs=1e-5)


def test_warp_loss_pairs_levels_and_trains_the_flow_only():
    torch.manual_seed(0)
    networks = build_tpsmm_networks(tiny_params(bg=False))
    source, driving = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    kp_source, kp_driving = networks.kp_detector(source), networks.kp_detector(driving)
    motion = networks.dense_motion_network(
        source_image=source, kp_driving=kp_driving, kp_source=kp_source
    )
    out = networks.inpainting_network(source, motion)
    targets = networks.inpainting_network.encode_occluded(driving, motion["occlusion_map"])
    loss = warp_loss(targets, out["warped_encoder_maps"])
    assert loss > 0
    loss.backward()
    assert networks.dense_motion_network.maps.weight.grad.abs().sum() > 0
    assert networks.inpainting_network.first.conv.weight.grad is None
    assert networks.dense_motion_network.occlusion[0].weight.grad is None
    same = [m.detach() for m in out["warped_encoder_maps"]]
    assert warp_loss(same[::-1], same) == 0
    with pytest.raises(ValueError, match="level shapes differ"):
        warp_loss(same, same)
    with pytest.raises(ValueError, match="4 driving encoder maps but 3"):
        warp_loss(same, same[:3])


def test_background_loss_vanishes_for_inverse_affines():
    forward = torch.tensor([[1.1, 0.1, 0.05], [-0.05, 0.95, -0.1], [0.0, 0.0, 1.0]])
    pair = forward.expand(2, 3, 3)
    assert background_cycle_loss(pair, torch.linalg.inv(pair)) < 1e-6
    assert background_cycle_loss(pair, pair) > 0.01


def test_random_scale_stretches_each_item_within_bounds_and_avd_loss_measures_it():
    points = torch.rand(64, 10, 2) * 2 - 1
    scaled = random_scale({"fg_kp": points}, 0.25, torch.Generator().manual_seed(0))["fg_kp"]
    factors = scaled / points
    assert torch.allclose(factors, factors[:, :1], atol=1e-4), "one factor per item and axis"
    assert factors.min() >= 0.75 - 1e-4 and factors.max() <= 1.25 + 1e-4
    assert not torch.allclose(factors[..., 0], factors[..., 1])
    assert avd_reconstruction_loss({"fg_kp": points}, {"fg_kp": points}) == 0
    expected = (points - scaled).abs().mean()
    torch.testing.assert_close(
        avd_reconstruction_loss({"fg_kp": points}, {"fg_kp": scaled}), expected
    )


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (0, (True, 0.1)),
        (1, (True, 0.13)),
        (5, (True, 0.25)),
        (7, (True, 0.3)),
        (34, (True, 0.3)),
        (35, (False, 0.0)),
    ],
)
def test_dropout_schedule_follows_the_official_training(epoch, expected):
    flag, probability = tps_dropout(epoch, **VOX)
    assert flag == expected[0]
    assert probability == pytest.approx(expected[1])


def test_dropout_schedule_rejects_bad_values():
    with pytest.raises(ValueError, match="dropout_inc_epoch"):
        tps_dropout(0, **{**VOX, "dropout_inc_epoch": 0})
    with pytest.raises(ValueError, match="dropout_maxp"):
        tps_dropout(0, **{**VOX, "dropout_maxp": 1.0})
