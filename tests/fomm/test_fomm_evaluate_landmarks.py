import numpy as np
import pytest

from fomm.landmarks import find_best_frame, keypoint_distance, normalize_landmarks, pose_distances

FACE = np.array([[30.0, 40], [70, 40], [50, 60], [35, 80], [65, 80]])


def test_normalized_landmarks_ignore_position_and_scale():
    moved = FACE * 2.5 + np.array([100.0, -20])
    np.testing.assert_allclose(normalize_landmarks(moved), normalize_landmarks(FACE), atol=1e-12)
    assert np.allclose(normalize_landmarks(FACE).mean(axis=0), 0)


def test_missing_and_degenerate_faces_become_nan():
    line = np.stack([np.arange(5.0), np.arange(5.0)], axis=1)
    stack = np.stack([FACE, np.full((5, 2), np.nan), line])
    out = normalize_landmarks(stack)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all() and np.isnan(out[2]).all()


def test_best_frame_is_the_closest_pose_whatever_its_size():
    open_mouth = FACE.copy()
    open_mouth[3:, 1] += 25
    turned = FACE.copy()
    turned[2, 0] += 15
    driving = np.stack([open_mouth, turned, FACE * 0.5 + 7, np.full((5, 2), np.nan)])
    assert find_best_frame(FACE, driving) == 2
    distances = pose_distances(FACE, driving)
    assert distances[2] == pytest.approx(0, abs=1e-12) and np.isinf(distances[3])


def test_best_frame_without_faces_raises():
    nothing = np.full((3, 5, 2), np.nan)
    with pytest.raises(ValueError, match="driving"):
        find_best_frame(FACE, nothing)
    with pytest.raises(ValueError, match="source"):
        find_best_frame(np.full((5, 2), np.nan), np.stack([FACE]))


def test_keypoint_distance_averages_pixels_and_counts_lost_faces():
    missing = np.full((5, 2), np.nan)
    real = np.stack([FACE, FACE, FACE, missing])
    generated = np.stack([FACE + [3.0, 4.0], FACE, missing, FACE])
    result = keypoint_distance(real, generated)
    assert result.akd == pytest.approx(2.5)  # frames 0 (5 px) and 1 (0 px)
    assert result.frames_compared == 2 and result.frames_with_face == 3
    assert result.missing_rate == pytest.approx(1 / 3)
    assert np.isnan(result.per_frame[2]) and np.isnan(result.per_frame[3])
