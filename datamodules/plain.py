"""Config values as plain Python containers, the one converter both papers and the data use.

Why: Hydra hands over ``DictConfig``/``ListConfig`` nodes. Plain dicts and lists pickle
into checkpoints that ``torch.load(..., weights_only=True)`` reads back, compare equal to
yaml-loaded official configs, and are what datasets and worker processes expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import Container, OmegaConf


def plain_container(value: Any) -> Any:
    """Plain dicts and lists all the way down, interpolations resolved; other values as given."""
    if isinstance(value, Container):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {key: plain_container(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_container(item) for item in value]
    return value
