import numpy as np
import pytest
import torch
from fomm_tool_media import draw_face, write_talking_video
from PIL import Image

from datamodules.command_errors import exit_on_input_error
from datamodules.devices import resolve_device
from fomm.media import (
    InputError,
    fit_frame,
    iter_chunks,
    load_image,
    open_input_video,
    to_tensor,
    video_fps,
)


def test_load_image_gives_rgb_uint8_from_grey_and_rgba(tmp_path):
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.full((20, 30, 4), 200, np.uint8)).save(tmp_path / "rgba.png")
    for name in ("grey.png", "rgba.png"):
        image = load_image(tmp_path / name)
        assert image.shape == (20, 30, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "does not exist"),
        (lambda d: d, "is not a file"),
        (lambda d: (d / "junk.png").write_bytes(b"no image") and d / "junk.png", "not a readable"),
    ],
)
def test_bad_source_image_gives_one_clear_message(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as error:
        load_image(path)
    assert str(path) in str(error.value) and "source_image=" in str(error.value)


def test_fit_modes_keep_or_ignore_the_aspect_ratio():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = 255  # a white central square
    assert fit_frame(wide, 32, "center_crop").min() > 200  # only the white square is kept
    resized = fit_frame(wide, 32, "resize")
    assert resized.shape == (32, 32, 3) and resized[:, 0].max() == 0 and resized[:, 16].min() > 200
    padded = fit_frame(wide, 32, "pad")
    assert padded[0].max() == 0 and padded[:, 16].min() < 10  # black bars above and below
    with pytest.raises(InputError, match="fit="):
        fit_frame(wide, 32, "stretch")


def test_to_tensor_is_channels_first_in_unit_range():
    tensor = to_tensor(np.stack([draw_face(16)]))
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert tensor.min() >= 0 and tensor.max() <= 1


def test_video_opens_with_exact_fps_and_reads_in_chunks(tmp_path):
    path = write_talking_video(tmp_path / "v.mp4", num_frames=7, audio=False)
    with open_input_video(path) as source:
        assert video_fps(source) == 25
        chunks = list(iter_chunks(source, 3))
    assert [len(c[0]) for c in chunks] == [3, 3, 1]
    assert chunks[-1][1].shape == (1, 64, 64, 3)


def test_bad_driving_videos_give_one_clear_message(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 300)
    (tmp_path / "frames").mkdir()
    cases = [
        (tmp_path / "missing.mp4", "does not exist"),
        (tmp_path / "junk.mp4", "cannot be read"),
        (tmp_path / "frames", "cannot be read"),  # an empty frame folder
        (None, "no video given"),
    ]
    for path, message in cases:
        with pytest.raises(InputError, match=message) as error:
            open_input_video(path)
        assert "driving_video" in str(error.value)


def test_devices_resolve_and_impossible_ones_are_explained():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(InputError, match="device=banana"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")


def test_exit_on_input_error_prints_one_line_and_exits_2(capsys):
    @exit_on_input_error
    def main():
        raise InputError("video x.mp4 does not exist; check driving_video=")

    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: video x.mp4 does not exist; check driving_video=\n"
    assert exit_on_input_error(lambda: 3)() == 3
