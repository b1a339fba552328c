import pytest
import torch

from fomm.losses import (
    ImagePyramid,
    PerceptualPyramidLoss,
    Vgg19Features,
    discriminator_gan_loss,
    equivariance_jacobian_loss,
    equivariance_value_loss,
    feature_matching_loss,
    generator_gan_loss,
)
from fomm.losses.ms_ssim import MultiScaleSSIMLoss
from fomm.nets import KPDetector
from fomm.transforms import RandomTPSTransform


def _detector():
    torch.manual_seed(0)
    detector = KPDetector(
        block_expansion=4,
        num_kp=5,
        num_channels=3,
        max_features=16,
        num_blocks=3,
        temperature=0.1,
        estimate_jacobian=True,
        scale_factor=0.5,
    ).eval()
    torch.nn.init.normal_(detector.jacobian.weight, std=0.05)
    return detector


def test_equivariance_losses_vanish_for_the_identity_transform():
    detector = _detector()
    driving = torch.rand(2, 3, 64, 64)
    identity = RandomTPSTransform(2, sigma_affine=0.0, sigma_tps=0.0, points_tps=5)
    transformed = identity.transform_frame(driving)
    torch.testing.assert_close(transformed, driving, atol=1e-5, rtol=0)
    with torch.no_grad():
        kp_driving, kp_transformed = detector(driving), detector(transformed)
    assert equivariance_value_loss(kp_driving, kp_transformed, identity) < 1e-5
    assert equivariance_jacobian_loss(kp_driving, kp_transformed, identity) < 1e-5
    moved = RandomTPSTransform(2, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    with torch.no_grad():
        kp_moved = detector(moved.transform_frame(driving))
    assert equivariance_value_loss(kp_driving, kp_moved, moved) > 1e-4


def test_closed_form_jacobian_equals_autograd():
    transform = RandomTPSTransform(3, sigma_affine=0.05, sigma_tps=0.005, points_tps=5)
    points = (torch.rand(3, 7, 2) * 2 - 1).requires_grad_(True)
    warped = transform.warp_coordinates(points)
    rows = [torch.autograd.grad(warped[..., i].sum(), points, retain_graph=True)[0] for i in (0, 1)]
    autograd = torch.stack(rows, dim=-2)
    torch.testing.assert_close(transform.jacobian(points), autograd, atol=1e-6, rtol=1e-5)
    # Differentiable w.r.t. the points, as the loss needs for the detector's gradient.
    transform.jacobian(points).sum().backward()
    assert points.grad is not None


def test_affine_only_transform_moves_points_by_theta():
    generator = torch.Generator().manual_seed(1)
    transform = RandomTPSTransform(2, sigma_affine=0.1, generator=generator)
    points = torch.rand(1, 4, 2)
    expected = points @ transform.theta[:, :, :2].transpose(1, 2) + transform.theta[:, None, :, 2]
    torch.testing.assert_close(transform.warp_coordinates(points), expected)


def test_perceptual_loss_is_zero_on_equal_images_and_uses_only_needed_layers():
    pyramid = ImagePyramid([1, 0.5], 3)
    images = torch.rand(2, 3, 32, 32)
    loss = PerceptualPyramidLoss([1, 0.5], [1, 1, 0], pretrained=False)
    assert loss.vgg.ends == (2, 7) and len(loss.vgg.features) == 7
    assert loss(pyramid(images), pyramid(images)) == 0
    other = pyramid(torch.rand(2, 3, 32, 32))
    assert loss(other, pyramid(images)) > 0
    assert not PerceptualPyramidLoss([1], [0, 0], pretrained=False).enabled


def test_pixel_pyramid_loss_is_l1_on_each_scale():
    pyramid = ImagePyramid([1, 0.5], 3)
    zeros, ones = torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)
    loss = PerceptualPyramidLoss([1, 0.5], [10], network="pixels")
    assert loss.vgg is None and loss.enabled
    half = pyramid(ones)["prediction_0.5"].mean()  # the blur's zero padding darkens the border
    assert loss(pyramid(ones), pyramid(zeros)) == pytest.approx(10 * (1 + half.item()))
    with pytest.raises(ValueError, match="gives 1"):
        PerceptualPyramidLoss([1], [10, 10], network="pixels")


def test_random_vgg_is_deterministic_and_weights_file_loads(tmp_path):
    first, second = Vgg19Features(pretrained=False), Vgg19Features(pretrained=False)
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    # A torchvision-style state dict (features.N.*, plus classifier entries to ignore).
    state = {f"features.{k}": torch.randn_like(v) for k, v in first.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "vgg19.pth")
    loaded = Vgg19Features(weights_path=str(tmp_path / "vgg19.pth"), num_slices=2)
    assert torch.equal(loaded.features[0].weight, state["features.0.weight"])
    assert loaded.pretrained and not first.pretrained
    with pytest.raises(FileNotFoundError, match="weights_path"):
        Vgg19Features(weights_path=str(tmp_path / "missing.pth"))


def test_failed_vgg_download_explains_the_fix(monkeypatch):
    from torchvision.models import VGG19_Weights

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(type(VGG19_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match="weights_path=.*pretrained=false"):
        Vgg19Features(pretrained=True)


def test_lsgan_and_feature_matching_values():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    real = {"prediction_map_1": ones, "feature_maps_1": [ones, ones]}
    fake = {"prediction_map_1": zeros, "feature_maps_1": [zeros, ones]}
    assert generator_gan_loss(fake, [1], 2.0) == 2.0
    assert generator_gan_loss(real, [1], 2.0) == 0.0
    assert discriminator_gan_loss(real, fake, [1], 1.0) == 0.0
    assert discriminator_gan_loss(fake, real, [1], 1.0) == 2.0
    assert feature_matching_loss(real, fake, [1], [10, 10]) == 10.0
    assert feature_matching_loss(real, fake, [1], [0, 10]) == 0.0


def test_pyramid_keys_match_discriminator_names():
    pyramid = ImagePyramid([1, 0.5, 0.25], 3)(torch.rand(1, 3, 16, 16))
    assert sorted(pyramid) == ["prediction_0.25", "prediction_0.5", "prediction_1"]
    assert pyramid["prediction_0.25"].shape == (1, 3, 4, 4)


def _finite_difference_jacobian(transform, points, step=1e-5):
    """(B, N, 2, 2) Jacobian of the warp by central differences, row i = d output_i."""
    columns = []
    for axis in (0, 1):
        offset = torch.zeros_like(points)
        offset[..., axis] = step
        forward = transform.warp_coordinates(points + offset)
        backward = transform.warp_coordinates(points - offset)
        columns.append((forward - backward) / (2 * step))
    return torch.stack(columns, dim=-1)


def _sheared_warp():
    """A warp whose Jacobian is far from symmetric: rotation, shear and a thin-plate spline."""
    generator = torch.Generator().manual_seed(0)
    transform = RandomTPSTransform(
        2, sigma_affine=0.0, sigma_tps=0.005, points_tps=5, generator=generator
    )
    angle = torch.tensor(0.3)
    rotation = torch.stack(
        [torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])]
    )
    shear = torch.tensor([[1.0, 0.4], [0.0, 1.0]])
    affine = torch.cat([rotation @ shear, torch.tensor([[0.05], [-0.1]])], dim=1)
    transform.theta = affine.expand(2, 2, 3).clone()
    return transform


def test_closed_form_jacobian_of_a_sheared_warp_equals_finite_differences():
    transform = _sheared_warp()
    points = torch.rand(2, 6, 2, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    numeric = _finite_difference_jacobian(transform, points.double())
    assert (numeric - numeric.transpose(-1, -2)).abs().max() > 0.3  # not symmetric
    torch.testing.assert_close(transform.jacobian(points), numeric.float(), atol=1e-4, rtol=0)


def test_equivariance_losses_vanish_for_keypoints_that_follow_a_sheared_warp():
    """Keypoints and Jacobians that transform exactly as the warp give zero losses.

    The driving keypoints are the warped ones, p = T(p'), with Jacobians J = dT(p') J',
    dT from finite differences; a loss that transposed dT would score them far from 0.
    """
    transform = _sheared_warp()
    generator = torch.Generator().manual_seed(2)
    value = torch.rand(2, 5, 2, generator=generator) * 1.6 - 0.8
    jacobian = torch.eye(2) + 0.3 * torch.randn(2, 5, 2, 2, generator=generator)
    kp_transformed = {"value": value, "jacobian": jacobian}
    warp_jacobian = _finite_difference_jacobian(transform, value.double()).float()
    kp_driving = {
        "value": transform.warp_coordinates(value),
        "jacobian": warp_jacobian @ jacobian,
    }
    assert equivariance_value_loss(kp_driving, kp_transformed, transform) < 1e-6
    assert equivariance_jacobian_loss(kp_driving, kp_transformed, transform) < 1e-4
    transposed = {**kp_driving, "jacobian": warp_jacobian.transpose(-1, -2) @ jacobian}
    assert equivariance_jacobian_loss(transposed, kp_transformed, transform) > 0.05


def test_ms_ssim_loss_is_zero_on_equal_images_and_punishes_blur_more_than_l1_does():
    torch.manual_seed(0)
    sharp = (torch.rand(2, 3, 8, 8).repeat_interleave(8, -1).repeat_interleave(8, -2)).clamp(0, 1)
    loss = MultiScaleSSIMLoss(10.0)
    assert loss(sharp, sharp).item() == pytest.approx(0, abs=1e-5)
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, stride=1, padding=1, count_include_pad=False)
    noisy = (sharp + 0.1 * torch.randn_like(sharp)).clamp(0, 1)
    # the blur is closer in L1 than the noise, but it loses the edges MS-SSIM looks at
    assert (blurred - sharp).abs().mean() < (noisy - sharp).abs().mean()
    assert loss(blurred, sharp) > loss(noisy, sharp) > 0
    prediction = blurred.clone().requires_grad_(True)
    loss(prediction, sharp).backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad.abs().sum() > 0
    assert not MultiScaleSSIMLoss(0.0).enabled


def test_ms_ssim_loss_names_what_to_lower_for_small_frames():
    with pytest.raises(ValueError, match="num_scales or kernel_size"):
        MultiScaleSSIMLoss(1.0)(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert MultiScaleSSIMLoss(1.0, num_scales=2, kernel_size=7).min_side() <= 32
    MultiScaleSSIMLoss(1.0, num_scales=2, kernel_size=7)(
        torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    )
    with pytest.raises(ValueError, match="num_scales"):
        MultiScaleSSIMLoss(1.0, num_scales=6)
