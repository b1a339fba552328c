"""The self-blend transform: where it changes pixels, its masks, its seeding."""

import cv2
import numpy as np
import pytest
from pipeline_media import draw_face

from fakedetect.self_blend import SelfBlend
from fakedetect.self_blend.masks import (
    EmptyMaskError,
    fill_hull,
    five_point_hull,
    sixty_eight_point_hull,
    soft_blend_mask,
)

SIZE, CENTRE, FACE = 160, (80, 86), 56
# Where pipeline_media.draw_face puts the eyes, the nose tip and the mouth corners.
EYE_DX, EYE_Y = int(0.22 * FACE), CENTRE[1] - int(0.12 * FACE)
MOUTH_Y, MOUTH_DX = CENTRE[1] + int(0.36 * FACE), int(0.18 * FACE)
FIVE = np.array(
    [
        [CENTRE[0] - EYE_DX, EYE_Y],
        [CENTRE[0] + EYE_DX, EYE_Y],
        [CENTRE[0], CENTRE[1] + int(0.17 * FACE)],
        [CENTRE[0] - MOUTH_DX, MOUTH_Y],
        [CENTRE[0] + MOUTH_DX, MOUTH_Y],
    ],
    dtype=np.float32,
)


@pytest.fixture(scope="module")
def face():
    frame = np.full((SIZE, SIZE, 3), (90, 120, 160), dtype=np.uint8)
    draw_face(frame, CENTRE, FACE)
    return frame


def sixty_eight_points() -> np.ndarray:
    """A dlib-layout face: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67."""
    angles = np.linspace(np.pi * 0.95, np.pi * 0.05, 17)
    jaw = np.stack([80 - 40 * np.cos(angles), 80 + 50 * np.sin(angles)], axis=1)
    brows = np.stack([np.linspace(50, 110, 10), np.full(10, 62.0)], axis=1)
    nose = np.stack([np.full(9, 80.0), np.linspace(66, 96, 9)], axis=1)
    eye = np.stack([np.cos(np.linspace(0, 2 * np.pi, 7)[:6]) * 6, np.zeros(6)], axis=1)
    eyes = np.vstack([eye + [64, 72], eye + [96, 72]])
    mouth = np.stack([80 + 14 * np.cos(np.linspace(0, 2 * np.pi, 21)[:20]), np.full(20, 110.0)], 1)
    points = np.vstack([jaw, brows, nose, eyes, mouth])
    assert points.shape == (68, 2)
    return points


def test_the_blend_changes_the_target_only_where_the_mask_is_not_zero(face):
    blend = SelfBlend()
    changed_somewhere = False
    for seed in range(6):
        result = blend(face, FIVE, np.random.default_rng(seed))
        assert result.fake.shape == face.shape and result.fake.dtype == np.uint8
        outside = result.mask == 0
        assert outside.any() and (result.mask > 0).any()
        assert np.array_equal(result.fake[outside], result.real[outside])
        changed_somewhere |= bool((result.fake != result.real).any())
        if result.perturbed == "source":  # the real sample is the face itself
            assert np.array_equal(result.real, face)
            assert np.array_equal(result.fake[outside], face[outside])
    assert changed_somewhere


def test_the_same_seed_gives_the_same_pair_and_another_seed_another(face):
    blend = SelfBlend()
    first = blend(face, FIVE, np.random.default_rng(7))
    again = blend(face, FIVE, np.random.default_rng(7))
    other = blend(face, FIVE, np.random.default_rng(8))
    for name in ("real", "fake", "mask"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.fake, other.fake)


def test_the_blend_ratio_scales_the_mask(face):
    for ratio in (0.25, 1.0):
        result = SelfBlend(blend_ratios=[ratio])(face, FIVE, np.random.default_rng(3))
        assert result.mask.max() == pytest.approx(ratio, abs=1e-6)


def test_the_five_point_hull_covers_the_points_forehead_and_chin_and_stays_in_the_crop():
    hull = five_point_hull(FIVE)
    mask = fill_hull(hull, (SIZE, SIZE))
    for x, y in FIVE:
        assert mask[int(round(y)), int(round(x))] == 1
    eyes_to_mouth = MOUTH_Y - EYE_Y
    assert mask[int(EYE_Y - 0.6 * eyes_to_mouth), CENTRE[0]] == 1  # forehead
    assert mask[int(MOUTH_Y + 0.5 * eyes_to_mouth), CENTRE[0]] == 1  # chin
    assert mask[int(MOUTH_Y + 1.2 * eyes_to_mouth), CENTRE[0]] == 0  # the neck is not face
    assert 0.05 < mask.mean() < 0.5  # the face, not the whole crop
    without_forehead = fill_hull(five_point_hull(FIVE, forehead=0.0), (SIZE, SIZE))
    assert without_forehead[int(EYE_Y - 0.6 * eyes_to_mouth), CENTRE[0]] == 0
    assert without_forehead.sum() < mask.sum()


def test_a_five_point_hull_near_the_border_is_clipped_to_the_crop():
    shifted = FIVE + [-CENTRE[0] + 10, 0]  # the face's left half outside the crop
    mask = fill_hull(five_point_hull(shifted), (SIZE, SIZE))
    assert mask.shape == (SIZE, SIZE) and mask[:, 0].any() and mask.mean() < 0.3


def test_the_sixty_eight_point_hull_adds_the_forehead_above_the_brows():
    points = sixty_eight_point_hull(sixty_eight_points(), forehead=0.4)
    mask = fill_hull(points, (SIZE, SIZE))
    plain = fill_hull(sixty_eight_point_hull(sixty_eight_points(), forehead=0.0), (SIZE, SIZE))
    assert plain[62, 80] == 1 and plain[50, 80] == 0  # up to the brows
    assert mask[50, 80] == 1  # 0.4 x 38 pixels higher
    assert mask[135, 80] == 0 and plain[125, 80] == 1  # the chin is the jaw line


def test_bad_landmarks_are_refused_with_a_reason(face):
    blend = SelfBlend()
    with pytest.raises(ValueError, match="68 or 5 landmarks"):
        blend(face, FIVE[:4], np.random.default_rng(0))
    with pytest.raises(EmptyMaskError, match="outside the image"):
        blend(face, FIVE + 1000, np.random.default_rng(0))
    with pytest.raises(ValueError, match="eyes and the mouth coincide"):
        five_point_hull(np.zeros((5, 2)))


def test_the_soft_mask_is_one_inside_zero_far_away_and_smooth():
    mask = np.zeros((200, 200), np.uint8)
    cv2.circle(mask, (100, 100), 60, 1, -1)
    soft = soft_blend_mask(mask, np.random.default_rng(0))
    assert soft.dtype == np.float32 and soft.max() == pytest.approx(1.0)
    assert soft[100, 100] > 0.99 and soft[5, 5] == 0
    radius = soft[100, 100:200]
    assert ((radius > 0.05) & (radius < 0.95)).sum() >= 3  # a soft edge, not a step
    assert (np.diff(radius) <= 1e-6).all()  # falling off monotonically
