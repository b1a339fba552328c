"""python -m fomm.export: graphs that onnxruntime runs as torch runs the networks, any batch."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install -e '.[export]'")
pytest.importorskip("onnxruntime", reason="ONNX tests need onnxruntime: pip install -e '.[export]'")

from onnx_tiny import (  # noqa: E402
    graph_names,
    max_error,
    run_onnx,
    write_lightning_checkpoint,
    write_tpsmm_checkpoint,
)

import fomm  # noqa: E402
from fomm.checkpoint import load_fomm  # noqa: E402
from fomm.export import main  # noqa: E402
from fomm.onnx_export.linear_solve import EliminationSolve, solve_by_elimination  # noqa: E402

TOLERANCE = 1e-4


def frames(batch, seed):
    return torch.rand(batch, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def export(make_cfg, checkpoint, output, *extra):
    cfg = make_cfg(
        [f"checkpoint={checkpoint}", f"output={output}", *extra], config_name="export_fomm"
    )
    main(cfg)
    return json.loads((output / "export.json").read_text())


@pytest.mark.parametrize("jacobian", [True, False])
def test_our_checkpoint_exports_and_matches_torch_at_other_batch_sizes(
    make_cfg, tmp_path, capsys, jacobian
):
    checkpoint = write_lightning_checkpoint(tmp_path / "tiny.ckpt", jacobian=jacobian)
    manifest = export(make_cfg, checkpoint, tmp_path / "onnx")
    assert "generator.onnx: inputs source" in capsys.readouterr().out
    assert manifest["model"] == "fomm" and manifest["frame_size"] == 64
    parts = ["value", "jacobian"] if jacobian else ["value"]
    kp_inputs, kp_outputs = graph_names(tmp_path / "onnx" / "kp_detector.onnx")
    assert kp_inputs == ["image"] and kp_outputs == parts
    generator_inputs, generator_outputs = graph_names(tmp_path / "onnx" / "generator.onnx")
    assert generator_inputs == [
        "source",
        *(f"kp_source_{p}" for p in parts),
        *(f"kp_driving_{p}" for p in parts),
    ]
    assert generator_outputs == [
        "prediction",
        "occlusion_map",
        "deformed",
        "mask",
        "sparse_deformed",
    ]

    networks = load_fomm(checkpoint)
    for batch in (1, 3):  # the graphs were traced with 2
        source, driving = frames(1, batch), frames(batch, batch + 10)
        with torch.no_grad():
            kp_source, kp_driving = networks.kp_detector(source), networks.kp_detector(driving)
            expected = networks.generator(
                source.expand(batch, -1, -1, -1),
                kp_driving=kp_driving,
                kp_source={k: v.expand(batch, *v.shape[1:]) for k, v in kp_source.items()},
            )
        keypoints = run_onnx(tmp_path / "onnx" / "kp_detector.onnx", image=driving)
        for part in parts:
            assert max_error(keypoints[part], kp_driving[part]) < TOLERANCE
        feeds = {f"kp_source_{p}": kp_source[p] for p in parts}
        feeds |= {f"kp_driving_{p}": kp_driving[p] for p in parts}
        # One source for every driving frame, or one per frame: both give the same frames.
        for sources in (source, source.expand(batch, -1, -1, -1)):
            feeds |= {
                f"kp_source_{p}": kp_source[p].expand(len(sources), *kp_source[p].shape[1:])
                for p in parts
            }
            out = run_onnx(tmp_path / "onnx" / "generator.onnx", source=sources, **feeds)
            for name in generator_outputs:
                assert max_error(out[name], expected[name]) < TOLERANCE, name
    assert not networks.generator.training


@pytest.mark.slow
def test_tpsmm_exports_every_network_and_matches_torch(make_cfg, tmp_path):
    checkpoint, config = write_tpsmm_checkpoint(tmp_path)
    manifest = export(make_cfg, checkpoint, tmp_path / "onnx", f"config={config}")
    folder = tmp_path / "onnx"
    assert manifest["model"] == "tpsmm"
    assert set(manifest["graphs"]) == {
        "kp_detector.onnx",
        "generator.onnx",
        "bg_predictor.onnx",
        "avd_network.onnx",
    }
    assert graph_names(folder / "generator.onnx") == (
        ["source", "kp_source_fg_kp", "kp_driving_fg_kp", "bg_param"],
        ["prediction", "deformed", "deformation", "contribution_maps"]
        + [f"occlusion_map_{i}" for i in range(4)],
    )
    nets = fomm.load_official_checkpoint(checkpoint, config)
    batch = 3
    source, driving = frames(1, 0), frames(batch, 1)
    with torch.no_grad():
        kp_source, kp_driving = nets.kp_detector(source), nets.kp_detector(driving)
        bg_param = nets.bg_predictor(source.expand(batch, -1, -1, -1), driving)
        motion = nets.dense_motion_network(
            source_image=source.expand(batch, -1, -1, -1),
            kp_driving=kp_driving,
            kp_source={"fg_kp": kp_source["fg_kp"].expand(batch, -1, -1)},
            bg_param=bg_param,
        )
        rendered = nets.inpainting_network(source.expand(batch, -1, -1, -1), motion)
        avd = nets.avd_network(kp_source, kp_driving)
    kp = run_onnx(folder / "kp_detector.onnx", image=driving)["fg_kp"]
    assert max_error(kp, kp_driving["fg_kp"]) < TOLERANCE
    bg = run_onnx(folder / "bg_predictor.onnx", source=source, driving=driving)["bg_param"]
    assert max_error(bg, bg_param) < TOLERANCE
    points = {"kp_source_fg_kp": kp_source["fg_kp"], "kp_driving_fg_kp": kp_driving["fg_kp"]}
    assert (
        max_error(run_onnx(folder / "avd_network.onnx", **points)["fg_kp"], avd["fg_kp"])
        < TOLERANCE
    )
    out = run_onnx(folder / "generator.onnx", source=source, bg_param=bg_param, **points)
    assert max_error(out["prediction"], rendered["prediction"]) < TOLERANCE
    assert max_error(out["deformed"], rendered["deformed"]) < TOLERANCE
    assert max_error(out["deformation"], motion["deformation"]) < TOLERANCE
    for i, mask in enumerate(motion["occlusion_map"]):
        assert max_error(out[f"occlusion_map_{i}"], mask) < TOLERANCE


def test_tpsmm_without_background_or_avd_has_neither_graph_nor_input(make_cfg, tmp_path):
    checkpoint, config = write_tpsmm_checkpoint(tmp_path, bg=False, multi_mask=False)
    state = torch.load(checkpoint, weights_only=True)
    del state["avd_network"]
    torch.save(state, checkpoint)
    manifest = export(make_cfg, checkpoint, tmp_path / "onnx", f"config={config}")
    assert set(manifest["graphs"]) == {"kp_detector.onnx", "generator.onnx"}
    inputs, outputs = graph_names(tmp_path / "onnx" / "generator.onnx")
    assert inputs == ["source", "kp_source_fg_kp", "kp_driving_fg_kp"]
    assert outputs[-1] == "occlusion_map_0" and "occlusion_map_1" not in outputs


def test_elimination_solves_like_lapack_also_where_pivoting_is_needed():
    generator = torch.Generator().manual_seed(0)
    system = torch.randn(4, 3, 8, 8, generator=generator, dtype=torch.float64)
    system[0, 0, 0, 0] = 0.0  # a zero first pivot: only row exchanges get past it
    rhs = torch.randn(4, 3, 8, 2, generator=generator, dtype=torch.float64)
    expected = torch.linalg.solve(system, rhs)
    torch.testing.assert_close(solve_by_elimination(system, rhs), expected)
    with EliminationSolve():
        torch.testing.assert_close(torch.linalg.solve(system, rhs), expected)
        vector = torch.randn(8, dtype=torch.float64)  # not a spline's system: left to torch
        torch.testing.assert_close(
            torch.linalg.solve(system[0, 0], vector),
            expected.new_tensor(np.linalg.solve(system[0, 0].numpy(), vector.numpy())),
        )


def test_bad_input_gets_one_line(make_cfg, tmp_path, capsys):
    checkpoint, config = write_tpsmm_checkpoint(tmp_path)
    fomm_config = tmp_path / "fomm.yaml"
    fomm_config.write_text("model_params: {common_params: {num_kp: 5}}\n")
    cases = [
        ([f"checkpoint={checkpoint}"], "no output given; pass output=DIR"),
        (
            [f"checkpoint={checkpoint}", f"output={tmp_path}", f"config={tmp_path / 'no.yaml'}"],
            "no.yaml",
        ),
        ([f"checkpoint={tmp_path / 'none.ckpt'}", f"output={tmp_path}"], "none.ckpt"),
        ([f"checkpoint={config}", f"config={config}", f"output={tmp_path}"], "not a PyTorch"),
    ]
    for overrides, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(make_cfg(overrides, config_name="export_fomm"))
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
