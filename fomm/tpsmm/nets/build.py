"""Build the TPSMM networks from an official-style ``model_params`` mapping.

One builder serves the original ``config/*.yaml`` files of the Thin-Plate-Spline Motion
Model and this project's configs (``conf/recipe/tpsmm_<data>.yaml``), so a published
checkpoint and a model trained here are the same modules with the same state-dict names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from datamodules.plain import plain_container
from fomm.tpsmm.config import is_tpsmm_model_params
from fomm.tpsmm.nets.avd import AVDNetwork
from fomm.tpsmm.nets.bg_motion import BGMotionPredictor
from fomm.tpsmm.nets.dense_motion import NUM_OCCLUSION_MASKS, DenseMotionNetwork
from fomm.tpsmm.nets.inpainting import InpaintingNetwork
from fomm.tpsmm.nets.keypoint_detector import KPDetector

NETWORK_NAMES = (
    "kp_detector",
    "dense_motion_network",
    "inpainting_network",
    "bg_predictor",
    "avd_network",
)
_SECTIONS = ("common_params", "generator_params", "dense_motion_params")


class TPSMMNetworks(nn.Module):
    """The networks of one Thin-Plate-Spline Motion Model.

    Its state dict is the union of the official checkpoint's sub-dicts, each under its own
    prefix (``kp_detector.``, ``dense_motion_network.``, ``inpainting_network.``,
    ``bg_predictor.``, ``avd_network.``). ``bg_predictor`` is None without background
    motion (``bg: false``); ``avd_network`` is None where a loaded checkpoint has none
    trained. ``config`` is the official-style config the networks were built from.
    """

    def __init__(
        self,
        kp_detector: KPDetector,
        dense_motion_network: DenseMotionNetwork,
        inpainting_network: InpaintingNetwork,
        bg_predictor: BGMotionPredictor | None,
        avd_network: AVDNetwork | None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.kp_detector = kp_detector
        self.dense_motion_network = dense_motion_network
        self.inpainting_network = inpainting_network
        self.bg_predictor = bg_predictor
        self.avd_network = avd_network
        self.config = config or {}


def build_tpsmm_networks(model_params: Mapping[str, Any]) -> TPSMMNetworks:
    """Instantiate the networks described by an official TPSMM ``model_params`` section.

    Args:
        model_params: with ``common_params`` (num_tps, num_channels, bg, multi_mask),
            ``generator_params``, ``dense_motion_params``, optionally
            ``avd_network_params`` (default bottlenecks 64) and ``kp_detector_params``
            (``pretrained``: ImageNet weights for the keypoint detector; not an official
            section, default false as in the original).

    Raises:
        ValueError: a section is missing or names an argument the networks do not take.
    """
    params = plain_container(model_params) if model_params is not None else {}
    missing = [s for s in _SECTIONS if s not in params]
    if missing or not is_tpsmm_model_params(params):
        raise ValueError(
            f"TPSMM model_params lacks {missing or ['common_params.num_tps']}; it needs "
            f"{list(_SECTIONS)} with common_params.num_tps, as in the official config/*.yaml "
            "files of the Thin-Plate-Spline Motion Model (see conf/recipe/tpsmm_vox.yaml)"
        )
    common = params["common_params"]
    depth = params["generator_params"].get("num_down_blocks")
    if common.get("multi_mask", True) and depth != NUM_OCCLUSION_MASKS - 1:
        raise ValueError(
            f"multi_mask: true predicts {NUM_OCCLUSION_MASKS} occlusion masks, one per "
            f"inpainting level, so generator_params.num_down_blocks must be "
            f"{NUM_OCCLUSION_MASKS - 1} (got {depth}); or set multi_mask: false"
        )
    try:
        kp_detector = KPDetector(**common, **params.get("kp_detector_params", {}))
        dense_motion = DenseMotionNetwork(**common, **params["dense_motion_params"])
        inpainting = InpaintingNetwork(**params["generator_params"], **common)
        bg_predictor = BGMotionPredictor() if common.get("bg", False) else None
        avd = AVDNetwork(num_tps=common["num_tps"], **params.get("avd_network_params", {}))
    except TypeError as error:
        raise ValueError(f"bad TPSMM model_params: {error}") from error
    return TPSMMNetworks(
        kp_detector, dense_motion, inpainting, bg_predictor, avd, {"model_params": params}
    )
