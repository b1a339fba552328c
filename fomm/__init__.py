"""First Order Motion Model (Siarohin et al., NeurIPS 2019), reproduced on Lightning + Hydra.

The loaders are exposed here without importing torch-heavy modules at package import:
``fomm.load_official_checkpoint``, ``fomm.load_fomm``, ``fomm.normalize_kp`` and the others in
``__all__`` resolve on first use (``fomm.animate`` is the animation command, not a function).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load_official_checkpoint": "fomm.checkpoint",
    "load_fomm": "fomm.checkpoint",
    "export_official": "fomm.checkpoint",
    "normalize_kp": "fomm.inference",
    "Animator": "fomm.inference",
    "build_networks": "fomm.nets.build",
    "FOMMNetworks": "fomm.nets.build",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fomm' has no attribute {name!r}")
