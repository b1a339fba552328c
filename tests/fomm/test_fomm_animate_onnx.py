"""fomm.animate backend=onnx: the exported graphs animate as the torch networks do (FOMM, TPSMM)."""

import numpy as np
import pytest
from fomm_tool_media import draw_face, write_talking_video, write_tiny_checkpoint
from onnx_tiny import write_tpsmm_checkpoint
from PIL import Image

from datamodules.video_io import read_frames
from fomm.animate import animate_files, animate_video
from fomm.checkpoint import load_fomm
from fomm.media import InputError
from fomm.onnx_export.runtime import onnx_networks

pytest.importorskip("onnx", reason="backend=onnx needs onnx: pip install -e '.[export]'")
pytest.importorskip(
    "onnxruntime", reason="backend=onnx needs onnxruntime: pip install -e '.[export]'"
)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animate_onnx")
    checkpoint, config = write_tiny_checkpoint(folder, size=64)
    source = folder / "source.png"
    Image.fromarray(draw_face(64, eye_gap=10)).save(source)
    driving = write_talking_video(folder / "driving.mp4", num_frames=7, audio=False)
    return {"checkpoint": checkpoint, "config": config, "source": source, "driving": driving}


def animate_with_both_backends(media, make_cfg, folder, checkpoint, config):
    """The same animation command with backend=torch and backend=onnx."""
    common = [
        f"source_image={media['source']}",
        f"driving_video={media['driving']}",
        f"checkpoint={checkpoint}",
        f"config={config}",
        "device=cpu",
        "progress=false",
        "batch_size=3",  # batches of 3 and a last one of 1, against graphs traced with 2
    ]
    results = {}
    for backend in ("torch", "onnx"):
        output = f"output={folder / backend}.mp4"
        cfg = make_cfg([*common, output, f"backend={backend}"], config_name="animate")
        results[backend] = animate_video(cfg)
    return results


def assert_same_animation(results):
    torch_run, onnx_run = results["torch"], results["onnx"]
    assert onnx_run.num_frames == torch_run.num_frames == 7
    for name in ("kp_source", "kp_driving", "kp_animated"):
        error = np.abs(getattr(onnx_run, name) - getattr(torch_run, name)).max()
        assert error < 1e-4, name
    frames = {name: read_frames(run.output, range(7)).astype(int) for name, run in results.items()}
    difference = np.abs(frames["onnx"] - frames["torch"])
    # Outputs within 1e-6 round to the same 8-bit values but at a few boundaries; the
    # encoder then sees (almost) the same frames.
    assert difference.mean() < 0.01 and difference.max() <= 2


def test_both_backends_give_the_same_animation(media, make_cfg, tmp_path):
    checkpoint, config = media["checkpoint"], media["config"]
    assert_same_animation(animate_with_both_backends(media, make_cfg, tmp_path, checkpoint, config))


@pytest.mark.slow  # TPSMM's generator graph (the unrolled spline solve) exports in ~10-20 s
def test_tpsmm_checkpoints_animate_with_both_backends(media, tmp_path):
    """A published-layout TPSMM (background predictor, AVD) animated in every mode.

    The graphs are exported once, by what ``backend=onnx`` calls (``onnx_networks``; the
    option itself is exercised with FOMM above), and animate as the loaded checkpoint does.
    """
    checkpoint, config = write_tpsmm_checkpoint(tmp_path, bg=True, multi_mask=False)
    networks = load_fomm(checkpoint, config)
    graphs = onnx_networks(networks, 64)
    assert graphs.avd_network is not None
    options = {
        "source_image": media["source"],
        "driving_video": media["driving"],
        "device": "cpu",
        "progress": False,
        "batch_size": 3,  # batches of 3 and a last one of 1, against graphs traced with 2
    }
    runs = {}
    for mode in ("relative", "standard", "avd"):
        runs[mode] = {
            name: animate_files(
                **options, output=tmp_path / f"{mode}_{name}.mp4", networks=model, mode=mode
            )
            for name, model in (("torch", networks), ("onnx", graphs))
        }
        assert_same_animation(runs[mode])
    run = runs["relative"]["torch"]
    assert run.kp_source.shape == (10, 2) and run.kp_animated.shape == (7, 10, 2)
    # relative mode: the reference frame (0) moves the source's control points nowhere
    assert np.abs(run.kp_animated[0] - run.kp_source).max() < 1e-5
    # standard mode animates to the driving points; avd to the AVD network's
    standard = runs["standard"]["torch"]
    assert np.abs(standard.kp_animated - standard.kp_driving).max() < 1e-6
    assert np.abs(runs["avd"]["torch"].kp_animated - run.kp_animated).max() > 1e-3


def test_onnx_backend_options_are_checked(media, tmp_path):
    options = {
        "source_image": media["source"],
        "driving_video": media["driving"],
        "output": tmp_path / "bad.mp4",
        "checkpoint": media["checkpoint"],
        "config": media["config"],
        "device": "cpu",
        "progress": False,
    }
    with pytest.raises(InputError, match="backend=tensorrt is not one of torch, onnx"):
        animate_files(**options, backend="tensorrt")
    with pytest.raises(InputError, match="use precision=fp32"):
        animate_files(**options, backend="onnx", precision="bf16")
