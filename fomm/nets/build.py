"""Build the three FOMM networks from an official-style ``model_params`` mapping.

One builder serves both our Hydra configs (``model.model_params``) and the original
``config/*.yaml`` files, so a published checkpoint and a model trained here are the same
modules with the same state-dict names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from datamodules.plain import plain_container
from fomm.nets.discriminator import MultiScaleDiscriminator
from fomm.nets.generator import OcclusionAwareGenerator
from fomm.nets.keypoint_detector import KPDetector

_SECTIONS = ("common_params", "kp_detector_params", "generator_params", "discriminator_params")


class FOMMNetworks(nn.Module):
    """The keypoint detector, generator and discriminator of one FOMM model.

    Its state dict is the union of the official checkpoint's three sub-dicts, each under
    its own prefix (``kp_detector.``, ``generator.``, ``discriminator.``). ``config`` is the
    official-style config the networks were built from (``model_params`` and, where
    known, ``train_params`` and ``animate_params``).
    """

    def __init__(
        self,
        kp_detector: KPDetector,
        generator: OcclusionAwareGenerator,
        discriminator: MultiScaleDiscriminator,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.kp_detector = kp_detector
        self.generator = generator
        self.discriminator = discriminator
        self.config = config or {}


def build_networks(model_params: Mapping[str, Any]) -> FOMMNetworks:
    """Instantiate the networks described by an official ``model_params`` section.

    Args:
        model_params: with ``common_params`` (num_kp, num_channels, estimate_jacobian),
            ``kp_detector_params``, ``generator_params`` and ``discriminator_params``.

    Raises:
        ValueError: a section is missing or names an argument the networks do not take.
    """
    params = plain_container(model_params) if model_params is not None else {}
    missing = [s for s in _SECTIONS if s not in params]
    if missing:
        raise ValueError(
            f"model_params lacks {missing}; it needs {list(_SECTIONS)} as in the official "
            "config/*.yaml files (see conf/model/fomm.yaml)"
        )
    common = params["common_params"]
    try:
        kp_detector = KPDetector(**params["kp_detector_params"], **common)
        generator = OcclusionAwareGenerator(**params["generator_params"], **common)
        discriminator = MultiScaleDiscriminator(**params["discriminator_params"], **common)
    except TypeError as error:
        raise ValueError(f"bad FOMM model_params: {error}") from error
    return FOMMNetworks(kp_detector, generator, discriminator, {"model_params": params})
