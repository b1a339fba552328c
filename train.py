"""Train and test any deepfake-lab model: compose the config, instantiate, fit, test.

Examples:
    python train.py                              # tiny FOMM on the embedded dataset (CPU)
    python train.py model=fomm data=taichi       # the official taichi-256 recipe
    python train.py model=effnet_att_st          # the detector's triplet-then-head recipe
    python train.py -m sweep=bitrate             # a study as a Hydra sweep
"""

from __future__ import annotations

import csv
import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger

from datamodules.training.loggers import instantiate_list  # also registers ${wandb_offline:}
from datamodules.training.precision import (
    warn_if_bf16_is_emulated,  # also registers ${auto_precision:}
)
from datamodules.training.resume import resume
from datamodules.training.selection import selection_record, write_selection_record

log = logging.getLogger(__name__)

# FOMM steps its optimizers by hand, and Lightning then warns (with a page of example code)
# that a step-interval checkpoint holds the weights after the step, not before. After the
# step is what resuming needs: the checkpoint and global_step agree.
warnings.filterwarnings(
    "ignore", message="Using ModelCheckpoint with manual optimization and every_n_train_steps"
)


def _adopt_csv_columns(loggers: list[Any]) -> None:
    """Let CSV loggers of the main process know the columns already in their file.

    Why: under ``ddp_spawn`` (``trainer=ddp_cpu``) the workers write ``metrics.csv``
    during fit, so the main process's logger starts ``test`` unaware of those columns
    and Lightning's CSV writer fails when it rewrites the header.
    """
    for lg in loggers:
        if not isinstance(lg, CSVLogger):
            continue
        metrics_file = Path(lg.log_dir) / "metrics.csv"
        if metrics_file.is_file():
            with metrics_file.open(newline="") as handle:
                header = next(csv.reader(handle), [])
            writer = lg.experiment
            writer.metrics_keys = sorted(set(writer.metrics_keys) | set(header))


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Plain floats of a metrics dict (tensors of one element included), for JSON."""
    return {
        name: float(value)
        for name, value in metrics.items()
        if not isinstance(value, torch.Tensor) or value.numel() == 1
    }


def train(cfg: DictConfig) -> float | None:
    """Fit the configured model, test the best checkpoint, return the metric sweeps optimise.

    Args:
        cfg: the composed Hydra config (``conf/train.yaml``).

    Returns:
        The value of ``cfg.optimized_metric`` at the checkpoint the run selected (its best
        validation, the score the checkpoint callback kept) when that callback monitors
        ``optimized_metric``; otherwise its last logged value. A validation metric either
        way, so sweeps never select on the test split (None when it was not logged).
        Every final metric of fit and test is also written to ``<output_dir>/metrics.json``,
        the selected checkpoint and its score to ``<output_dir>/checkpoints.json``.
    """
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)

    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
    model: pl.LightningModule = hydra.utils.instantiate(cfg.model)
    # The checkpoint this run starts from (checked to be this model's) and the callback
    # that records the run's identity in the checkpoints it saves.
    ckpt_path, record_identity = resume(cfg, model)
    callbacks = [*instantiate_list(cfg.get("callbacks")), record_identity]
    loggers = instantiate_list(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    warn_if_bf16_is_emulated(trainer.precision, trainer.strategy.root_device)

    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

    try:
        results: dict[str, float] = {}
        selected: dict[str, Any] | None = None
        training = cfg.get("train", True)
        if training:
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
            results.update(_scalars(trainer.callback_metrics))
            selected = selection_record(trainer, cfg.optimized_metric)
        if cfg.get("test", True):
            # After fitting, the best checkpoint (the last weights when none was ranked);
            # with train=false, the checkpoint the user named (test-only evaluation).
            test_ckpt = (selected["best_model_path"] or None) if selected else ckpt_path
            _adopt_csv_columns(loggers)
            for tested in trainer.test(model, datamodule=datamodule, ckpt_path=test_ckpt):
                results.update(_scalars(tested))
        if trainer.is_global_zero:
            output_dir = Path(cfg.paths.output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            if selected is not None:
                write_selection_record(selected, output_dir)
            # Written last: the loop takes a run folder with metrics.json as finished.
            (output_dir / "metrics.json").write_text(json.dumps(results, indent=2, sort_keys=True))
            log.info("Outputs in %s (final metrics in metrics.json)", output_dir)
        best = selected["best_model_score"] if selected else None
        if best is not None and selected["monitor"] == cfg.optimized_metric:
            return best
        return results.get(cfg.optimized_metric)
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
            import wandb

            wandb.finish()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; sweepers read the returned value."""
    return train(cfg)


if __name__ == "__main__":
    main()
