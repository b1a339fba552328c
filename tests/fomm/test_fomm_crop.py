from pathlib import Path

import numpy as np
import pytest
from fomm_tool_media import ColourFaceDetector, draw_face, probe, write_talking_video
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from fomm.crop import crop_image, crop_video
from fomm.media import InputError, open_input_video

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def raw_video(path, num_frames=8, audio=True):
    """A 120x160 video with a 40-pixel face right of centre, drifting by one pixel a frame."""
    frames = np.stack(
        [
            draw_face(40, canvas=(120, 160), shift=(35 + t, -15), mouth=t / 8)
            for t in range(num_frames)
        ]
    )
    return write_talking_video(path, frames=frames, fps=24, audio=audio)


def test_crop_video_finds_the_face_and_keeps_frames_fps_and_audio(tmp_path):
    result = crop_video(
        raw_video(tmp_path / "raw.mp4"),
        tmp_path / "crop.mp4",
        size=32,
        detector=ColourFaceDetector(),
        progress=False,
    )
    assert probe(result.path) == {
        "fps": 24,
        "width": 32,
        "height": 32,
        "codec": "h264",
        "audio": True,
        "frames": 8,
    }
    assert result.tracks_found == 1 and result.track.detections == 8
    left, top, side = result.boxes[0]
    union = result.track.union_box
    assert left <= union[0] and top <= union[1]
    assert left + side >= union[2] and top + side >= union[3]
    assert side == pytest.approx(1.2 * max(union[2] - union[0], union[3] - union[1]), abs=1)
    # The face fills the middle of the crop: its skin colour is at the centre.
    with open_input_video(result.path) as cropped:
        centre = cropped.read([0])[0, 16, 16].astype(int)
    assert abs(centre[0] - 225) < 40 and abs(centre[1] - 180) < 40


def test_follow_mode_moves_with_the_face_and_stride_samples_frames(tmp_path):
    result = crop_video(
        raw_video(tmp_path / "raw.mp4", num_frames=10, audio=False),
        None,
        mode="follow",
        stride=3,
        smooth_sigma=1.0,
        detector=ColourFaceDetector(),
        progress=False,
    )
    assert result.path is None and result.track.detections == 4  # frames 0, 3, 6, 9
    assert result.boxes[-1, 0] > result.boxes[0, 0]
    assert (result.boxes[:, 2] == result.boxes[0, 2]).all()


def test_a_video_without_a_face_gets_one_clear_message(tmp_path):
    blank = np.full((5, 48, 64, 3), 90, np.uint8)
    video = write_talking_video(tmp_path / "blank.mp4", frames=blank, audio=False)
    with pytest.raises(InputError, match="no face found in .*blank.mp4"):
        crop_video(video, tmp_path / "o.mp4", detector=ColourFaceDetector(), progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_bad_options_are_named(tmp_path):
    video = raw_video(tmp_path / "raw.mp4", num_frames=2, audio=False)
    for option, message in [({"mode": "zoom"}, "mode=zoom"), ({"margin": -1}, "margin=-1")]:
        with pytest.raises(InputError, match=message):
            crop_video(video, None, detector=ColourFaceDetector(), **option)


def test_crop_image_cuts_a_square_around_the_largest_face():
    image = draw_face(50, canvas=(140, 100), shift=(0, 30))
    crop = crop_image(image, ColourFaceDetector(), size=48, margin=0.1)
    assert crop.shape == (48, 48, 3)
    assert abs(int(crop[24, 24, 0]) - 225) < 40
    with pytest.raises(InputError, match="no face found in image"):
        crop_image(np.full((40, 40, 3), 90, np.uint8), ColourFaceDetector(), size=48)


def test_crop_config_composes_with_mtcnn_by_default():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="crop", overrides=["video=a.mp4", "output=b.mp4", "size=512"])
    GlobalHydra.instance().clear()
    assert cfg.detector._target_ == "datamodules.face_detection.MTCNNDetector"
    assert (cfg.size, cfg.margin, cfg.iou_threshold, cfg.mode) == (512, 0.1, 0.25, "fixed")
