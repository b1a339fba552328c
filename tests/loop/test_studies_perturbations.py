import functools

import numpy as np
import pytest

from loop.studies import perturbations as P


@pytest.fixture
def frames():
    yy, xx = np.mgrid[:48, :64]
    base = np.stack([(xx * 4) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], -1)
    return np.stack([np.roll(base, t, axis=1) for t in range(6)]).astype(np.uint8)


@pytest.mark.parametrize(
    ("fn", "neutral"),
    [
        (P.downscale, 1),
        (P.rotate, 0),
        (P.gaussian_blur, 0),
        (P.gaussian_noise, 0),
        (P.jpeg, 100),
        (P.h264, 0),
    ],
)
def test_neutral_strength_is_identity(frames, fn, neutral):
    assert np.array_equal(fn(frames, neutral), frames)


def test_strength_changes_frames_monotonically(frames):
    def error(out):
        return np.abs(out.astype(float) - frames.astype(float)).mean()

    assert error(P.gaussian_blur(frames, 1)) < error(P.gaussian_blur(frames, 3))
    assert error(P.gaussian_noise(frames, 5)) < error(P.gaussian_noise(frames, 20))
    assert error(P.jpeg(frames, 90)) < error(P.jpeg(frames, 10))
    assert error(P.rotate(frames, 5)) < error(P.rotate(frames, 30))


def test_shapes(frames):
    assert P.downscale(frames, 0.5).shape == (6, 24, 32, 3)
    assert P.rotate(frames, 90).shape == frames.shape
    assert P.h264(frames[:, :47, :63], 200_000).shape == (6, 47, 63, 3)


def test_noise_is_seeded(frames):
    assert np.array_equal(
        P.gaussian_noise(frames, 10, seed=3), P.gaussian_noise(frames, 10, seed=3)
    )
    assert not np.array_equal(
        P.gaussian_noise(frames, 10, seed=3), P.gaussian_noise(frames, 10, seed=4)
    )


def test_low_bitrate_loses_more_than_high(frames):
    big = np.repeat(np.repeat(frames, 3, axis=1), 3, axis=2)
    low = np.abs(P.h264(big, 30_000).astype(float) - big).mean()
    high = np.abs(P.h264(big, 5_000_000).astype(float) - big).mean()
    assert low > high


def test_perturb_passes_fps_only_where_used(frames):
    calls = []

    def spy(frames, strength, fps):
        calls.append(fps)
        return frames

    P.perturb(spy, frames, 1.0, fps=30.0)
    assert calls == [30.0]
    assert P.perturb(functools.partial(P.rotate), frames, 0, fps=30.0) is frames


@pytest.mark.parametrize(
    ("fn", "bad"),
    [(P.downscale, 0), (P.downscale, 2), (P.gaussian_blur, -1), (P.jpeg, 0), (P.h264, -5)],
)
def test_bad_strengths_are_refused(frames, fn, bad):
    with pytest.raises(ValueError):
        fn(frames, bad)


def test_non_rgb_input_is_refused():
    with pytest.raises(ValueError, match="uint8 RGB"):
        P.rotate(np.zeros((2, 8, 8), np.uint8), 10)
