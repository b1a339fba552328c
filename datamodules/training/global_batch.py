"""Every batch size in the data configs is global: the batch of one step over all processes.

Why: the official FOMM recipes give ``batch_size`` as the total over the GPUs of one
DataParallel run. Read per process under DDP, ``experiment=fomm_vox_bf16`` on 8 GPUs would
train at 8x the paper's batch with the paper's learning rate. So a DataModule divides
its configured sizes by the world size when the trainer sets it up (one process, no
trainer: world size 1), refuses sizes that do not divide, and states both numbers: in
the log and in the loggers' hyperparameters (``data/global_batch_size``,
``data/batch_size_per_process``, ``data/world_size``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytorch_lightning as pl

log = logging.getLogger(__name__)


def world_size(datamodule: pl.LightningDataModule) -> int:
    """The number of processes sharing a step: the attached trainer's, else 1."""
    trainer = datamodule.trainer
    return int(trainer.world_size) if trainer is not None else 1


def split_global_batch(
    key: str, global_size: int, processes: int, multiple_of: int = 1, what: str = ""
) -> int:
    """The per-process share of the global batch ``data.<key>``.

    Args:
        key: the data config key, named in the error.
        global_size: its value, the batch of one step over all processes.
        processes: the world size.
        multiple_of: what each process's share must be a multiple of (2 for batches
            balanced between real and fake).
        what: why that multiple, for the error.

    Raises:
        ValueError: the size is not positive, or the processes cannot share it evenly.
    """
    global_size = int(global_size)
    if global_size < 1:
        raise ValueError(f"data.{key}={global_size} must be a positive batch size.")
    step = processes * multiple_of
    if global_size % step:
        lower = global_size // step * step
        choices = f"{lower} or {lower + step}" if lower else f"{step}"
        shares = f" in multiples of {multiple_of} ({what})" if multiple_of > 1 else ""
        raise ValueError(
            f"data.{key}={global_size} is the global batch of a step over all processes, and "
            f"{processes} process(es) cannot share it evenly{shares}: set data.{key}={choices} "
            f"(a multiple of {step}), or train on a number of devices that divides it."
        )
    return global_size // processes


def announce_batch_sizes(
    datamodule: pl.LightningDataModule, sizes: Mapping[str, tuple[int, int]]
) -> dict[str, int]:
    """Log the global and per-process sizes, and add them to the loggers' hyperparameters.

    Args:
        datamodule: the DataModule (its trainer's loggers get the hyperparameters).
        sizes: ``key -> (global size, per-process size)``, e.g. ``{"batch_size": (40, 20)}``.

    Returns:
        The hyperparameters logged: ``data/world_size``, ``data/global_<key>`` and
        ``data/<key>_per_process`` for each key.
    """
    processes = world_size(datamodule)
    hyperparameters = {"data/world_size": processes}
    for key, (global_size, per_process) in sizes.items():
        hyperparameters[f"data/global_{key}"] = int(global_size)
        hyperparameters[f"data/{key}_per_process"] = int(per_process)
        log.info(
            "data.%s=%d is the global batch: %d per process x %d process(es)",
            key,
            global_size,
            per_process,
            processes,
        )
    trainer = datamodule.trainer
    for logger in trainer.loggers if trainer is not None else []:
        logger.log_hyperparams(hyperparameters)
    return hyperparameters
