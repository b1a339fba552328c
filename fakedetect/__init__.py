"""Deepfake detection with an ensemble of CNNs (Bonettini et al., ICPR 2020).

``fakedetect.load_icpr_weights`` and ``fakedetect.load_detector`` are imported
on first use, so that tools which only extract faces do not pay for timm.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_detector", "load_icpr_weights"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from fakedetect import weights

        return getattr(weights, name)
    raise AttributeError(f"module 'fakedetect' has no attribute {name!r}")
