"""The exported graphs of the shared reference models against the official code's outputs.

Run with ``-s`` to see the largest absolute error of every output (docs/export.md).
"""

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install -e '.[export]'")
pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime: pip install -e '.[export]'")

from onnx_tiny import max_error, run_onnx  # noqa: E402

import fomm  # noqa: E402
from fomm.export import export_networks  # noqa: E402

pytestmark = pytest.mark.reference
TOLERANCE = 1e-4


def check(errors, label, actual, expected, torch_value):
    errors[label] = (max_error(actual, expected), max_error(actual, torch_value))
    assert max(errors[label]) <= TOLERANCE, f"{label}: max abs error {errors[label]}"


def report(title, errors):
    print(f"\n{title}: max abs error (vs reference, vs torch)")
    for label, (reference, torch_error) in errors.items():
        print(f"  {label}: {reference:.1e}, {torch_error:.1e}")


def exported(folder, output):
    """The reference model (exported to ``output``), its expected arrays and its inputs."""
    nets = fomm.load_official_checkpoint(folder / "checkpoint.pth.tar", folder / "config.yaml")
    export_networks(nets, output, size=64)
    expected = dict(np.load(folder / "expected.npz"))
    return nets, expected, torch.tensor(expected["source"]), torch.tensor(expected["driving"])


def test_fomm_vox_small(reference_dir, tmp_path):
    nets, expected, source, driving = exported(reference_dir / "fomm" / "vox-small", tmp_path)
    batch = len(driving)
    with torch.no_grad():
        kp = {"source": nets.kp_detector(source), "driving": nets.kp_detector(driving)}
        generated = nets.generator(
            source.expand(batch, -1, -1, -1),
            kp_source={k: v.expand(batch, *v.shape[1:]) for k, v in kp["source"].items()},
            kp_driving=kp["driving"],
        )
    errors = {}
    for name, image in (("source", source), ("driving", driving)):
        out = run_onnx(tmp_path / "kp_detector.onnx", image=image)
        for part in ("value", "jacobian"):
            label = f"kp_{name}_{part}"
            check(errors, label, out[part], expected[label], kp[name][part])
    feeds = {f"kp_{name}_{part}": expected[f"kp_{name}_{part}"] for name in kp for part in kp[name]}
    out = run_onnx(tmp_path / "generator.onnx", source=expected["source"], **feeds)
    for name in ("prediction", "occlusion_map", "deformed", "mask", "sparse_deformed"):
        check(
            errors, f"generator_{name}", out[name], expected[f"generator_{name}"], generated[name]
        )
    report("FOMM vox-small", errors)


@pytest.mark.slow
def test_tpsmm_vox_small(reference_dir, tmp_path):
    nets, expected, source, driving = exported(reference_dir / "tpsmm" / "vox-small", tmp_path)
    batch = len(driving)
    sources = source.expand(batch, -1, -1, -1)
    points = {k: torch.tensor(expected[k]) for k in ("kp_source_fg_kp", "kp_driving_fg_kp")}
    errors = {}
    with torch.no_grad():
        for name, image in (("source", source), ("driving", driving)):
            label = f"kp_{name}_fg_kp"
            out = run_onnx(tmp_path / "kp_detector.onnx", image=image)["fg_kp"]
            check(errors, label, out, expected[label], nets.kp_detector(image)["fg_kp"])
        bg = run_onnx(tmp_path / "bg_predictor.onnx", source=source, driving=driving)["bg_param"]
        check(errors, "bg_param", bg, expected["bg_param"], nets.bg_predictor(sources, driving))
        bg_param = torch.tensor(expected["bg_param"])
        motion = nets.dense_motion_network(
            source_image=sources,
            kp_driving={"fg_kp": points["kp_driving_fg_kp"]},
            kp_source={"fg_kp": points["kp_source_fg_kp"].expand(batch, -1, -1)},
            bg_param=bg_param,
        )
        rendered = nets.inpainting_network(sources, motion)
        out = run_onnx(tmp_path / "generator.onnx", source=source, bg_param=bg_param, **points)
        pairs = [
            ("deformation", "dense_motion_deformation", motion["deformation"]),
            ("contribution_maps", "dense_motion_contribution_maps", motion["contribution_maps"]),
            ("prediction", "inpainting_prediction", rendered["prediction"]),
            ("deformed", "inpainting_deformed", rendered["deformed"]),
        ]
        pairs += [
            (f"occlusion_map_{i}", f"dense_motion_occlusion_map_{i}", mask)
            for i, mask in enumerate(motion["occlusion_map"])
        ]
        for name, label, torch_value in pairs:
            check(errors, label, out[name], expected[label], torch_value)

        # The demo's modes: its points through the generator, no background motion.
        identity = torch.eye(3).expand(batch, 3, 3)
        for mode in ("relative", "avd"):
            moved = torch.tensor(expected[f"animate_{mode}_fg_kp"])
            if mode == "avd":
                out = run_onnx(tmp_path / "avd_network.onnx", **points)["fg_kp"]
                torch_points = nets.avd_network(
                    {"fg_kp": points["kp_source_fg_kp"]}, {"fg_kp": points["kp_driving_fg_kp"]}
                )
                check(errors, "animate_avd_fg_kp", out, moved.numpy(), torch_points["fg_kp"])
            out = run_onnx(
                tmp_path / "generator.onnx",
                source=source,
                kp_source_fg_kp=points["kp_source_fg_kp"],
                kp_driving_fg_kp=moved,
                bg_param=identity,
            )["prediction"]
            motion = nets.dense_motion_network(
                source_image=sources,
                kp_driving={"fg_kp": moved},
                kp_source={"fg_kp": points["kp_source_fg_kp"].expand(batch, -1, -1)},
            )
            torch_prediction = nets.inpainting_network(sources, motion)["prediction"]
            label = f"animate_{mode}_prediction"
            check(errors, label, out, expected[label], torch_prediction)
    report("TPSMM vox-small", errors)
