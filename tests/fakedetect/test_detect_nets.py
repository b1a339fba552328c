import pytest
import timm
import torch
from torch import nn

from fakedetect.nets import (
    EfficientNetAutoAttB4,
    EfficientNetAutoAttB4ST,
    EfficientNetB4,
    LogitEnsemble,
    SiameseTuned,
    TimmDetector,
    Xception,
)
from fakedetect.nets.backbone import create_backbone

TINY = {"backbone": "test_efficientnet", "pretrained": False}


def test_detect_b4_attention_st_shapes_at_224():
    net = EfficientNetAutoAttB4ST(pretrained=False).eval()
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        features = net.features(images)
        attention = net.attention(images)
        logits = net.classifier(features).squeeze(-1)
    assert features.shape == (1, 1792)
    assert attention.shape == (1, 1, 28, 28)
    assert attention.min() >= 0 and attention.max() <= 1
    assert logits.shape == (1,)
    assert net.feature_extractor.gate.conv.in_channels == 56
    assert net.feature_extractor.backbone.bn1.eps == pytest.approx(1e-3)


def test_detect_xception_features_are_2048():
    net = Xception(pretrained=False).eval()
    with torch.no_grad():
        features = net.features(torch.randn(1, 3, 96, 96))
        logits = net(torch.randn(2, 3, 96, 96))
    assert features.shape == (1, 2048)
    assert logits.shape == (2,)


def test_detect_attention_gate_adapts_to_the_backbone():
    net = EfficientNetAutoAttB4(**TINY).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        attention = net.attention(images)
        features = net.features(images)
        logits = net(images)
    assert net.gate.conv.in_channels == 32  # test_efficientnet's stage 2
    assert attention.shape == (2, 1, 8, 8)
    assert features.shape == (2, net.num_features)
    assert logits.shape == (2,)


def test_detect_attention_gate_changes_the_features():
    torch.manual_seed(0)
    net = EfficientNetAutoAttB4(**TINY).eval()
    plain = EfficientNetB4(**TINY).eval()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("gate")})
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        nn.init.constant_(net.gate.conv.bias, 30.0)  # gate ~1: the same as no gate
        nn.init.zeros_(net.gate.conv.weight)
        assert torch.allclose(net.features(images), plain.features(images), atol=1e-5)
        nn.init.constant_(net.gate.conv.bias, -2.0)
        assert not torch.allclose(net.features(images), plain.features(images), atol=1e-3)


def test_detect_attention_needs_an_efficientnet_and_a_valid_stage():
    with pytest.raises(ValueError, match="EfficientNet-like"):
        EfficientNetAutoAttB4(
            backbone="test_resnet", pretrained=False, bn_momentum=None, drop_path_rate=0.0
        )
    with pytest.raises(ValueError, match="attention_stage=4"):
        EfficientNetAutoAttB4(attention_stage=4, **TINY)


def test_detect_siamese_head_trains_alone_when_frozen():
    net = SiameseTuned(EfficientNetB4(**TINY), frozen=True).train()
    assert not net.feature_extractor.training and net.classifier.training
    net(torch.randn(4, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in net.feature_extractor.parameters())
    assert all(p.grad is not None for p in net.classifier.parameters())

    net.freeze_features(False)
    assert net.feature_extractor.training
    net.features(torch.randn(4, 3, 32, 32)).sum().backward()
    assert net.feature_extractor.backbone.conv_stem.weight.grad is not None


def test_detect_logit_ensemble_averages_logits():
    class Constant(nn.Module):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def forward(self, images):
            return torch.full((len(images),), self.value)

    ensemble = LogitEnsemble([Constant(1.0), Constant(-3.0), Constant(5.0)])
    assert torch.equal(ensemble(torch.zeros(2, 3, 8, 8)), torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError):
        LogitEnsemble([])


def test_detect_any_timm_backbone_and_clear_errors(monkeypatch):
    net = TimmDetector("test_resnet", pretrained=False, dropout=0.1)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2,)
    with pytest.raises(ValueError, match="not a timm model"):
        create_backbone("no_such_net", pretrained=False)

    real_create = timm.create_model

    def offline(name, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("no internet")
        return real_create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.warns(UserWarning, match="RANDOM weights"):
        backbone = create_backbone("test_efficientnet", pretrained=True)
    assert backbone.num_features == 256
