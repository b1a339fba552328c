"""Tell a TPSMM ``model_params`` from an FOMM one (without importing the networks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_tpsmm_model_params(model_params: Any) -> bool:
    """Whether ``model_params`` describes a TPSMM (``common_params.num_tps``) rather than FOMM.

    Why here: the checkpoint loaders dispatch on it before building anything.
    """
    common = model_params.get("common_params") if isinstance(model_params, Mapping) else None
    return isinstance(common, Mapping) and "num_tps" in common
