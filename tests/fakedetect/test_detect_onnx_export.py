"""python -m fakedetect.export: one detector or an ensemble as one graph, equal to torch."""

import json

import hydra
import numpy as np
import pytest
import torch
from pipeline_checkpoints import write_tiny_checkpoint

from fakedetect.export import export_detector, main
from fakedetect.nets import LogitEnsemble
from fakedetect.weights import load_detector

pytest.importorskip("onnx", reason="ONNX export needs onnx: pip install -e '.[export]'")
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="ONNX tests need onnxruntime: pip install -e '.[export]'"
)
TOLERANCE = 1e-4


def run_onnx(path, faces):
    """The graph run by plain onnxruntime: output name -> array."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"faces": faces.numpy()}), strict=True))


def faces(batch, size=64, seed=0):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def error(actual, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detectors")
    return (
        write_tiny_checkpoint(folder / "att.ckpt", attention=True, seed=0),
        write_tiny_checkpoint(folder / "plain.ckpt", attention=False, seed=1),
    )


def export(make_cfg, checkpoint, output, *extra):
    overrides = [f"checkpoint={checkpoint}", f"output={output}", "size=64", *extra]
    main(make_cfg(overrides, config_name="export_detector"))
    return json.loads((output / "export.json").read_text())


def test_single_detectors_match_torch_at_other_batch_sizes(make_cfg, checkpoints, tmp_path):
    attention, plain = checkpoints
    for checkpoint, outputs in ((attention, ["logits", "attention"]), (plain, ["logits"])):
        folder = tmp_path / checkpoint.stem
        manifest = export(make_cfg, checkpoint, folder)
        assert manifest["outputs"] == outputs and manifest["members"] == [checkpoint.stem]
        assert manifest["inputs"] == {"faces": ["batch", 3, 64, 64]}
        net = load_detector(checkpoint)
        for batch in (1, 3):  # traced with 2
            images = faces(batch, seed=batch)
            out = run_onnx(folder / "detector.onnx", images)
            with torch.no_grad():
                assert error(out["logits"], net(images)) < TOLERANCE
                if "attention" in outputs:
                    assert error(out["attention"], net.attention(images)) < TOLERANCE


def test_an_ensemble_is_one_graph_averaging_logits(make_cfg, checkpoints, tmp_path, capsys):
    attention, plain = checkpoints
    manifest = export(make_cfg, f"[{plain},{attention}]", tmp_path / "ensemble")
    assert "members plain, att" in capsys.readouterr().out
    assert manifest["outputs"] == ["logits", "member_logits", "attention"]
    members = [load_detector(plain), load_detector(attention)]
    images = faces(3)
    out = run_onnx(tmp_path / "ensemble" / "detector.onnx", images)
    with torch.no_grad():
        assert error(out["logits"], LogitEnsemble(members)(images)) < TOLERANCE
        stacked = torch.stack([net(images) for net in members], dim=1)
        assert error(out["member_logits"], stacked) < TOLERANCE
        assert error(out["attention"], members[1].attention(images)) < TOLERANCE
    # A LogitEnsemble module exports to the same graph.
    export_detector(LogitEnsemble(members), tmp_path / "module", size=64)
    again = run_onnx(tmp_path / "module" / "detector.onnx", images)
    assert error(again["logits"], out["logits"]) < 1e-6


def test_a_siamese_tuned_attention_model_keeps_its_attention_output(tmp_path):
    config = {
        "_target_": "fakedetect.nets.EfficientNetAutoAttB4ST",
        "backbone": "test_efficientnet",
        "pretrained": False,
    }
    net = hydra.utils.instantiate(config).eval()
    manifest = export_detector(net, tmp_path, size=64)
    assert manifest["outputs"] == ["logits", "attention"]
    images = faces(2, seed=5)
    out = run_onnx(tmp_path / "detector.onnx", images)
    with torch.no_grad():
        assert error(out["logits"], net(images)) < TOLERANCE
        assert error(out["attention"], net.attention(images)) < TOLERANCE
    assert not net.training


@pytest.mark.slow
@pytest.mark.reference
def test_icpr_efficientnet_autoatt_b4_matches_the_reference(make_cfg, reference_dir, tmp_path):
    folder = reference_dir / "icpr2020dfdc" / "EfficientNetAutoAttB4"
    weights = folder / "EfficientNetAutoAttB4_fp16.pth"
    expected = dict(np.load(folder / "expected.npz"))
    export(make_cfg, weights, tmp_path, "architecture=EfficientNetAutoAttB4", "size=224")
    images = torch.tensor(expected["faces_normalized"])
    out = run_onnx(tmp_path / "detector.onnx", images)
    net = load_detector(weights, "EfficientNetAutoAttB4")
    with torch.no_grad():
        logits, attention = net(images), net.attention(images)
    errors = {
        "logits": (error(out["logits"], expected["logits"][:, 0]), error(out["logits"], logits)),
        "attention": (
            error(out["attention"], expected["attention"]),
            error(out["attention"], attention),
        ),
    }
    print(f"\nicpr EfficientNetAutoAttB4: max abs error (vs reference, vs torch): {errors}")
    assert max(max(pair) for pair in errors.values()) <= TOLERANCE


def test_bad_input_gets_one_line(make_cfg, tmp_path, capsys):
    for overrides, message in (
        ([f"output={tmp_path}"], "Give checkpoint=PATH"),
        ([f"checkpoint={tmp_path / 'none.ckpt'}", f"output={tmp_path}"], "none.ckpt do not exist"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(make_cfg(overrides, config_name="export_detector"))
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
