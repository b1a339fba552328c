import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from fomm_tool_media import (
    ColourFaceDetector,
    draw_face,
    probe,
    write_talking_video,
    write_tiny_checkpoint,
)
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from fomm.animate import animate_files, animate_video
from fomm.checkpoint import load_fomm
from fomm.inference import animate
from fomm.media import InputError, to_tensor

ROOT = Path(__file__).resolve().parents[2]
NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animate_media")
    checkpoint, config = write_tiny_checkpoint(folder, size=64)
    source = folder / "source.png"
    Image.fromarray(draw_face(60, canvas=(90, 70), eye_gap=10)).save(source)  # not square
    driving = write_talking_video(folder / "driving.mp4", num_frames=9, fps=NTSC, audio=True)
    return {"checkpoint": checkpoint, "config": config, "source": source, "driving": driving}


def test_animation_keeps_frame_count_exact_fps_and_audio(media, tmp_path):
    result = animate_files(
        media["source"],
        media["driving"],
        tmp_path / "out.mp4",
        checkpoint=media["checkpoint"],
        config=media["config"],
        batch_size=4,
        device="cpu",
        side_by_side=True,
        progress=False,
    )
    info = probe(result.output)
    assert info == {
        "fps": NTSC,
        "width": 64,
        "height": 64,
        "codec": "h264",
        "audio": True,
        "frames": 9,
    }
    assert result.num_frames == 9 and result.fps == NTSC and result.best_frame == 0
    assert result.kp_driving.shape == result.kp_animated.shape == (9, 5, 2)
    # Relative motion: at the reference frame the generator gets the source's own keypoints.
    np.testing.assert_allclose(result.kp_animated[0], result.kp_source, atol=1e-5)
    assert not np.allclose(result.kp_animated[1:], result.kp_driving[1:])
    comparison = probe(result.side_by_side)
    assert (comparison["width"], comparison["frames"], comparison["audio"]) == (192, 9, True)


def test_the_command_line_config_runs_in_process(media, tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="animate",
            overrides=[
                f"source_image={media['source']}",
                f"driving_video={media['driving']}",
                f"output={tmp_path / 'cli.mp4'}",
                f"checkpoint={media['checkpoint']}",
                f"config={media['config']}",
                "relative=false",
                "fit=resize",
                "device=cpu",
                "progress=false",
            ],
        )
    GlobalHydra.instance().clear()
    result = animate_video(cfg)
    assert probe(result.output)["frames"] == 9


def test_bad_inputs_give_one_clear_message(media, tmp_path):
    def run(**changes):
        options = {
            "source_image": media["source"],
            "driving_video": media["driving"],
            "output": tmp_path / "bad.mp4",
            "checkpoint": media["checkpoint"],
            "config": media["config"],
            "device": "cpu",
            "progress": False,
        } | changes
        with pytest.raises(InputError) as error:
            animate_files(**options)
        return str(error.value)

    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 500)
    (tmp_path / "no_frames").mkdir()
    (tmp_path / "not_a_checkpoint.pth").write_text("hello")
    lightning_like = tmp_path / "other.ckpt"
    torch.save(
        {"state_dict": {"layer.weight": torch.zeros(1)}, "hyper_parameters": {}}, lightning_like
    )

    assert "source_image=" in run(source_image=tmp_path / "missing.png")
    assert "junk.mp4" in run(driving_video=tmp_path / "junk.mp4")
    assert "no_frames" in run(driving_video=tmp_path / "no_frames")
    assert "no checkpoint given" in run(checkpoint=None)
    assert "does not exist" in run(checkpoint=tmp_path / "missing.pth.tar")
    assert "needs its config" in run(config=None)
    assert "not_a_checkpoint.pth" in run(checkpoint=tmp_path / "not_a_checkpoint.pth")
    assert "other.ckpt cannot be used" in run(checkpoint=lightning_like)
    assert "best_frame=50" in run(best_frame=50)
    assert "fit=" in run(fit="stretch")
    assert not (tmp_path / "bad.mp4").exists()


def test_command_line_error_is_one_line_without_traceback(media, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fomm.animate",
            f"source_image={tmp_path / 'nope.png'}",
            f"driving_video={media['driving']}",
            f"output={tmp_path / 'o.mp4'}",
            f"checkpoint={media['checkpoint']}",
            f"config={media['config']}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: image {tmp_path / 'nope.png'} does not exist; check source_image="]


def test_best_frame_is_found_by_landmarks_and_frames_stay_in_order(media, tmp_path):
    gaps = [5, 6, 7, 10, 8, 6]
    frames = np.stack([draw_face(64, eye_gap=g) for g in gaps])
    driving = write_talking_video(tmp_path / "poses.mp4", frames=frames, fps=25, audio=False)
    result = animate_files(
        media["source"],
        driving,
        tmp_path / "best.mp4",
        checkpoint=media["checkpoint"],
        config=media["config"],
        find_best_frame=True,
        crop_source=True,
        device="cpu",
        progress=False,
        detector=ColourFaceDetector(),
    )
    assert result.best_frame == 3
    assert np.argmin(result.pose_distances) == 3
    assert probe(result.output)["frames"] == len(gaps)


def test_one_pass_from_the_best_frame_equals_the_official_forward_and_backward_passes(media):
    networks = load_fomm(media["checkpoint"], media["config"])
    driving = to_tensor(np.stack([draw_face(64, mouth=m, eye_gap=6 + m) for m in range(5)]))
    source = to_tensor(draw_face(64, eye_gap=9)[None])[0]
    nets = (networks.kp_detector, networks.generator)
    best = 2
    one_pass = animate(source, driving, *nets, initial_frame=best, batch_size=2)
    forward = animate(source, driving[best:], *nets, initial_frame=0)
    backward = animate(source, driving[: best + 1].flip(0), *nets, initial_frame=0)
    stitched = torch.cat([backward.flip(0), forward[1:]])
    torch.testing.assert_close(one_pass, stitched, atol=1e-5, rtol=1e-5)


def test_driving_video_is_face_cropped_on_request(media, tmp_path):
    frames = np.stack(
        [draw_face(40, canvas=(100, 160), shift=(40 + t, 10), mouth=t / 5) for t in range(6)]
    )
    raw = write_talking_video(tmp_path / "raw.mp4", frames=frames, fps=24, audio=True)
    result = animate_files(
        media["source"],
        raw,
        tmp_path / "cropped.mp4",
        checkpoint=media["checkpoint"],
        config=media["config"],
        crop_driving=True,
        device="cpu",
        progress=False,
        detector=ColourFaceDetector(),
    )
    left, top, side = result.driving_crop_box
    assert left > 80 and side < 100  # around the face on the right, not the whole frame
    info = probe(result.output)
    assert (info["frames"], info["fps"], info["audio"]) == (6, 24, True)
