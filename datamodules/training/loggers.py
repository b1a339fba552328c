"""Loggers and callbacks from a config group, and the ``${wandb_offline:}`` resolver.

Why here: ``train.py``, the detector's cross-dataset command and the loop's studies all
build their loggers from the same ``logger`` group, and the detector package may not
import ``train.py`` (it sits above the papers). Importing this module registers the
resolver ``conf/logger/wandb.yaml`` uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf


def wandb_has_credentials() -> bool:
    """Tell whether wandb could sync online, without touching the network.

    Why: a user without an API key should get a local offline run instead of an
    interactive login prompt that hangs a batch job.
    """
    if os.environ.get("WANDB_MODE") in {"offline", "disabled", "dryrun"}:
        return False
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


OmegaConf.register_new_resolver("wandb_offline", lambda: not wandb_has_credentials(), replace=True)


def instantiate_list(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a callbacks/loggers group that has a ``_target_``."""
    if not group:
        return []
    return [
        hydra.utils.instantiate(entry)
        for entry in group.values()
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]
