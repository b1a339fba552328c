"""The detector networks: plain ``nn.Module``s with ``features``, ``forward`` and ``attention``."""

from fakedetect.nets.attention import AttentionGate
from fakedetect.nets.detector import TimmDetector
from fakedetect.nets.efficientnet import EfficientNetAutoAttB4, EfficientNetB4
from fakedetect.nets.ensemble import LogitEnsemble
from fakedetect.nets.siamese import EfficientNetAutoAttB4ST, EfficientNetB4ST, SiameseTuned
from fakedetect.nets.xception import Xception

__all__ = [
    "AttentionGate",
    "EfficientNetAutoAttB4",
    "EfficientNetAutoAttB4ST",
    "EfficientNetB4",
    "EfficientNetB4ST",
    "LogitEnsemble",
    "SiameseTuned",
    "TimmDetector",
    "Xception",
]
