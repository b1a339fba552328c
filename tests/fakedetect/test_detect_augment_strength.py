import albumentations as A
import pytest

from fakedetect.augment import icpr_augmentation


def _probabilities(pipeline: A.Compose) -> list[float]:
    return [step.p for step in pipeline.transforms]


def test_strength_scales_every_probability_and_caps_at_one():
    paper = _probabilities(icpr_augmentation())
    assert paper == [0.5] * 6
    assert _probabilities(icpr_augmentation(strength=0)) == [0.0] * 6
    assert _probabilities(icpr_augmentation(strength=0.5)) == [0.25] * 6
    assert _probabilities(icpr_augmentation(strength=3)) == [1.0] * 6


def test_negative_strength_is_refused():
    with pytest.raises(ValueError, match="strength"):
        icpr_augmentation(strength=-1)
