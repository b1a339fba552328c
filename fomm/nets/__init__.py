"""The FOMM networks (plain ``nn.Module``s, state-dict compatible with the original code)."""

from fomm.nets.build import FOMMNetworks, build_networks
from fomm.nets.dense_motion import DenseMotionNetwork
from fomm.nets.discriminator import MultiScaleDiscriminator
from fomm.nets.generator import OcclusionAwareGenerator
from fomm.nets.keypoint_detector import KPDetector

__all__ = [
    "DenseMotionNetwork",
    "FOMMNetworks",
    "KPDetector",
    "MultiScaleDiscriminator",
    "OcclusionAwareGenerator",
    "build_networks",
]
