"""The TPSMM networks (plain ``nn.Module``s, state-dict compatible with the original code)."""

from fomm.tpsmm.nets.avd import AVDNetwork
from fomm.tpsmm.nets.bg_motion import BGMotionPredictor
from fomm.tpsmm.nets.build import TPSMMNetworks, build_tpsmm_networks
from fomm.tpsmm.nets.dense_motion import DenseMotionNetwork, dropout_softmax
from fomm.tpsmm.nets.inpainting import InpaintingNetwork
from fomm.tpsmm.nets.keypoint_detector import KPDetector
from fomm.tpsmm.nets.tps import ThinPlateSpline

__all__ = [
    "AVDNetwork",
    "BGMotionPredictor",
    "DenseMotionNetwork",
    "InpaintingNetwork",
    "KPDetector",
    "TPSMMNetworks",
    "ThinPlateSpline",
    "build_tpsmm_networks",
    "dropout_softmax",
]
