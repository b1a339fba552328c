import numpy as np
import pytest
import timm
import torch
from pipeline_checkpoints import PickledNote, write_pickled_checkpoint

from datamodules.training.checkpoints import UntrustedCheckpointError
from fakedetect import load_detector, load_icpr_weights
from fakedetect.module import BinaryDetectorModule, EnsembleDetectorModule
from fakedetect.nets import EfficientNetB4, EfficientNetB4ST, Xception
from fakedetect.weights import (
    WeightsMismatchError,
    infer_icpr_architecture,
    read_state_dict,
    transfer_weights,
)

REFERENCE = "icpr2020dfdc/EfficientNetAutoAttB4"


@pytest.fixture(scope="module")
def reference(reference_dir):
    folder = reference_dir / REFERENCE
    expected = dict(np.load(folder / "expected.npz"))
    return folder / "EfficientNetAutoAttB4_fp16.pth", expected


@pytest.mark.reference
def test_detect_icpr_attention_b4_matches_the_official_outputs(reference):
    weights, expected = reference
    net = load_icpr_weights(weights, "EfficientNetAutoAttB4")
    assert not net.training
    images = torch.from_numpy(expected["faces_normalized"])
    captured = {}  # forward() computes features(x) first: keep them instead of a second pass
    net.dropout.register_forward_hook(lambda module, inputs, output: captured.update(f=inputs[0]))
    with torch.no_grad():
        logits = net(images)
        attention = net.attention(images)
    features = captured["f"]
    assert features.shape == (2, 1792) and attention.shape == (2, 1, 28, 28)
    np.testing.assert_allclose(features.numpy(), expected["features"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(attention.numpy(), expected["attention"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(logits.numpy(), expected["logits"][:, 0], atol=1e-4, rtol=0)


@pytest.mark.reference
def test_detect_icpr_siamese_variant_loads_from_official_names(reference, tmp_path):
    weights, expected = reference
    official = torch.load(weights, weights_only=True)
    head = {
        "classifier.0.weight": torch.rand(1792) + 0.5,
        "classifier.0.bias": torch.randn(1792),
        "classifier.0.running_mean": torch.randn(1792),
        "classifier.0.running_var": torch.rand(1792) + 0.5,
        "classifier.0.num_batches_tracked": torch.tensor(7),
        "classifier.1.weight": torch.randn(1, 1792) * 0.05,
        "classifier.1.bias": torch.randn(1),
    }
    siamese = {f"feat_ext.{name}": value for name, value in official.items()} | head
    path = tmp_path / "EfficientNetAutoAttB4ST.pth"
    torch.save({"net": siamese, "opt": {}, "iteration": 5, "val_loss": 0.3}, path)

    assert infer_icpr_architecture(siamese) == "EfficientNetAutoAttB4ST"
    net = load_detector(path)  # architecture inferred, training checkpoint unwrapped
    images = torch.from_numpy(expected["faces_normalized"][:1])
    with torch.no_grad():
        logits = net(images)  # the extractor's features (official ones below) through the head
    bn = (
        torch.from_numpy(expected["features"][:1]) - head["classifier.0.running_mean"]
    ) / torch.sqrt(head["classifier.0.running_var"] + 1e-5) * head["classifier.0.weight"] + head[
        "classifier.0.bias"
    ]
    reference_logits = bn @ head["classifier.1.weight"][0] + head["classifier.1.bias"]
    np.testing.assert_allclose(logits.numpy(), reference_logits.numpy(), atol=1e-4, rtol=0)


@pytest.mark.reference
def test_detect_icpr_b4_mapping_and_mismatch_errors(reference, tmp_path):
    weights, _ = reference
    official = torch.load(weights, weights_only=True)
    plain = {name: value for name, value in official.items() if "attconv" not in name}
    path = tmp_path / "b4.pth"
    torch.save(plain, path)
    net = load_icpr_weights(path, "EfficientNetB4")
    state = net.state_dict()
    # flat block 9 is the last block of the 56-channel stage: timm blocks[2][3]
    assert torch.equal(
        state["backbone.blocks.2.3.conv_pwl.weight"],
        plain["efficientnet._blocks.9._project_conv.weight"].float(),
    )
    assert torch.equal(
        state["backbone.bn2.running_var"], plain["efficientnet._bn1.running_var"].float()
    )
    assert state["backbone.conv_stem.weight"].dtype == torch.float32

    with pytest.raises(
        WeightsMismatchError, match="not EfficientNetAutoAttB4; pass architecture='EfficientNetB4'"
    ):
        load_icpr_weights(path, "EfficientNetAutoAttB4")

    broken = dict(plain)
    del broken["efficientnet._blocks.31._bn2.bias"]
    broken["efficientnet._blocks.40._bn2.bias"] = torch.zeros(3)
    broken["classifier.weight"] = torch.zeros(1, 100)
    torch.save(broken, path)
    with pytest.raises(WeightsMismatchError) as error:
        load_icpr_weights(path, "EfficientNetB4")
    message = str(error.value)
    assert "efficientnet._blocks.40._bn2.bias" in message
    assert "backbone.blocks.6.1.bn3.bias" in message
    assert "classifier.weight: file (1, 100) vs model (1, 1792)" in message


def _official_xception(net: Xception) -> dict[str, torch.Tensor]:
    """Xception weights under the names of the official fornet.Xception (Cadene port)."""
    state = {}
    for name, value in net.state_dict().items():
        if name.startswith("classifier."):
            state["xception.last_linear." + name.removeprefix("classifier.")] = value
        else:
            state["xception." + name.removeprefix("backbone.")] = value
    return state


def test_detect_icpr_xception_loads_official_names(tmp_path):
    torch.manual_seed(0)
    source = Xception(pretrained=False).eval()
    state = _official_xception(source)
    assert "xception.block1.rep.0.conv1.weight" in state
    assert "xception.block12.skipbn.running_mean" in state
    path = tmp_path / "xception.pth"
    torch.save(
        {
            name: value.half() if value.is_floating_point() else value
            for name, value in state.items()
        },
        path,
    )
    net = load_icpr_weights(path, "Xception")
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(net(images).numpy(), source(images).numpy(), atol=2e-2)
    for name, value in net.state_dict().items():
        torch.testing.assert_close(
            value, source.state_dict()[name].half().to(value.dtype), atol=0, rtol=0
        )


def test_detect_read_state_dict_unwraps_and_casts(tmp_path):
    weights = {
        "module.a.weight": torch.ones(2, dtype=torch.float16),
        "module.a.num": torch.tensor(3),
    }
    for wrapper in (
        lambda s: s,
        lambda s: {"net": s, "opt": {"lr": 1e-5}},
        lambda s: {"state_dict": s},
    ):
        path = tmp_path / "w.pth"
        torch.save(wrapper(weights), path)
        state = read_state_dict(path)
        assert set(state) == {"a.weight", "a.num"}
        assert state["a.weight"].dtype == torch.float32 and state["a.num"].dtype == torch.int64
    torch.save({"epoch": 3}, path)
    with pytest.raises(WeightsMismatchError, match="holds no state dict"):
        read_state_dict(path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")
    with pytest.raises(WeightsMismatchError, match="not in the official ICPR 2020 layout"):
        infer_icpr_architecture({"conv.weight": torch.ones(1)})


def test_detect_transfer_weights_across_binary_and_siamese():
    tiny = {"backbone": "test_efficientnet", "pretrained": False}
    binary, siamese = EfficientNetB4(**tiny), EfficientNetB4ST(**tiny)
    assert transfer_weights(binary, siamese) == "the feature extractor"
    for name, value in binary.state_dict().items():
        assert torch.equal(siamese.feature_extractor.state_dict()[name], value)
    other = EfficientNetB4(**tiny)
    assert transfer_weights(siamese, other) == "the source's feature extractor"
    with pytest.raises(WeightsMismatchError, match="do not fit"):
        transfer_weights(timm.create_model("test_resnet", num_classes=0), binary)


def test_detect_loaders_refuse_pickled_files_unless_trusted(tmp_path):
    """Every detector loader reads weights only, and unpickles only when told to trust."""
    ours = write_pickled_checkpoint(tmp_path / "pickled.ckpt", attention=False)
    official = tmp_path / "pickled_official.pth"
    torch.save(
        {"net": _official_xception(Xception(pretrained=False)), "opt": PickledNote("")}, official
    )
    tiny = {"_target_": "fakedetect.nets.EfficientNetB4", "backbone": "test_efficientnet"}
    adam = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
    loaders = {
        "load_detector": lambda trust: load_detector(ours, trust_checkpoint=trust),
        "read_state_dict": lambda trust: read_state_dict(official, trust_checkpoint=trust),
        "load_icpr_weights": lambda trust: load_icpr_weights(official, trust_checkpoint=trust),
        "ensemble": lambda trust: EnsembleDetectorModule(
            [{"path": str(ours)}], trust_checkpoint=trust
        ),
        "init_from": lambda trust: BinaryDetectorModule(
            tiny | {"pretrained": False}, adam, init_from=str(ours), trust_checkpoint=trust
        ).setup("fit"),
    }
    for name, load in loaders.items():
        with pytest.raises(UntrustedCheckpointError) as refused:
            load(False)
        message = str(refused.value)
        assert "pickled" in message and "trust_checkpoint=true" in message, name
        load(True)  # the same file, trusted
    assert load_detector(ours, trust_checkpoint=True).backbone is not None
