import numpy as np
import pytest

from datamodules.extraction.crops import box_with_margin, crop_face, square_around
from datamodules.video_io import sample_indices


def test_margin_is_the_official_one_and_clipped():
    # offset = round(0.2 * height) = 20: left/right/bottom grow by 20, top by 40
    assert box_with_margin((100, 100, 200, 200), (1000, 1000)) == (80, 60, 220, 220)
    assert box_with_margin((5, 10, 105, 110), (100, 100)) == (0, 0, 100, 100)
    assert box_with_margin((100, 100, 200, 200), (1000, 1000), margin=0.0) == (100, 100, 200, 200)


def test_square_is_moved_inside_the_frame_not_stretched():
    assert square_around((80, 60, 220, 220), (1000, 1000)) == (70, 60, 230, 220)
    # near the right/bottom edge the square slides back inside the frame
    assert square_around((900, 960, 1000, 1000), (1000, 1000)) == (900, 900, 1000, 1000)
    # a square larger than the frame stays centred (the crop is padded)
    left, top, right, bottom = square_around((0, 0, 50, 100), (100, 60))
    assert (right - left, bottom - top) == (100, 100)


def test_scale_and_tight_policies():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:300, 200:350] = 255  # a white "face" region
    scale = crop_face(frame, (200, 140, 350, 300), "scale", size=224)
    assert scale.shape == (224, 224, 3)
    tight = crop_face(frame, (200, 140, 350, 300), "tight", size=224)
    # margin box: offset 32 -> (168, 76, 382, 332): 214 wide, 256 tall
    assert tight.shape[0] == 224 and tight.shape[1] == round(214 * 224 / 256)
    small = crop_face(frame, (200, 140, 210, 150), "tight", size=64)
    assert max(small.shape[:2]) == 64
    with pytest.raises(ValueError, match="scale, tight"):
        crop_face(frame, (0, 0, 10, 10), "crop")


def test_scale_crop_pads_when_the_face_fills_a_small_frame():
    frame = np.full((60, 100, 3), 200, np.uint8)
    crop = crop_face(frame, (0, 0, 100, 60), "scale", size=50)
    assert crop.shape == (50, 50, 3)
    assert crop[0].max() == 0 or crop[-1].max() == 0  # black padding above or below


def test_frames_are_sampled_evenly_from_first_to_last():
    indices = sample_indices(300, 32)
    assert len(indices) == 32 and indices[0] == 0 and indices[-1] == 299
    assert np.all(np.diff(indices) > 0)
    assert sample_indices(10, 32) == list(range(10))
    assert sample_indices(5, None) == list(range(5))
    assert sample_indices(0, 32) == []
