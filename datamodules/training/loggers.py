"""Loggers from a config group, closed when a command ends; tables they accept; the resolver.

Why here: ``train.py``, the detector's cross-dataset command and the loop's studies all
build their loggers from the same ``logger`` group, and the detector package may not
import ``train.py`` (it sits above the papers). Importing this module registers the
resolver ``conf/logger/wandb.yaml`` uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
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


@contextmanager
def configured_loggers(group: DictConfig | None) -> Iterator[list[Any]]:
    """The loggers of a ``logger`` group, finalized when the block ends.

    Why: a command outside ``train.py`` (a study, the cross-dataset table) has no
    Trainer to close its loggers; without this a wandb run stays open and is marked
    crashed, or a failed job is marked finished. The status follows the block.
    """
    loggers = instantiate_list(group)
    status = "failed"
    try:
        yield loggers
        status = "success"
    finally:
        close_loggers(loggers, status)


def close_loggers(loggers: list[Any], status: str) -> None:
    """Finalize Lightning loggers used outside a trainer and end their wandb run.

    Why: without a trainer nobody finalizes them, and a wandb run left open would swallow
    the next stage's logs (wandb reuses a live run).

    Args:
        loggers: the loggers to close.
        status: ``success`` or ``failed`` (wandb's exit code follows it).
    """
    for logger in loggers:
        logger.finalize(status)
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb

        wandb.finish(exit_code=0 if status == "success" else 1)


def loggable_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy wandb accepts: object columns as text (wandb tables reject mixed types)."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].astype(str)
    return out.reset_index(drop=True)
