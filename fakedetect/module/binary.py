"""Binary training of a detector: BCE on balanced batches, validation every N steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torchmetrics.classification import BinaryAUROC

from datamodules.samplers import TrainSampling
from fakedetect.module.base import DetectorModuleBase, at_lr_floor


class BinaryDetectorModule(DetectorModuleBase):
    """Train a detector end to end with binary cross-entropy on balanced batches (paper recipe).

    Args:
        net: the network or its Hydra config.
        optimizer: a partial optimizer (``_partial_: true``) taking the parameters.
        scheduler: a partial ReduceLROnPlateau (or any scheduler) stepped on
            ``val/loss`` after every validation; null for none.
        max_steps: optimizer steps after which the module stops the run; null
            leaves the end to the trainer.
        val_every_n_steps: steps per epoch, i.e. between validations; null
            makes an epoch one pass over the training faces.
        stop_at_min_lr: stop once the scheduler has reached its ``min_lr``.
        monitor: see :class:`DetectorModuleBase`.
        monitor_mode: see :class:`DetectorModuleBase`.
        init_from: see :class:`DetectorModuleBase`.
        init_architecture: see :class:`DetectorModuleBase`.
        trust_checkpoint: see :class:`DetectorModuleBase`.
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        optimizer: Any,
        scheduler: Any = None,
        max_steps: int | None = 30000,
        val_every_n_steps: int | None = 500,
        stop_at_min_lr: bool = True,
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        init_from: str | None = None,
        init_architecture: str | None = None,
        trust_checkpoint: bool = False,
    ) -> None:
        super().__init__(net, monitor, monitor_mode, init_from, init_architecture, trust_checkpoint)
        self._save_plain_hyperparameters(net)
        self.train_auc = BinaryAUROC()

    @property
    def train_sampling(self) -> TrainSampling:
        """Balanced single faces; the epoch ends at the next validation (or the step budget)."""
        every, budget = self.hparams.val_every_n_steps, self.hparams.max_steps
        if every is not None and budget is not None:
            every = max(1, min(every, budget - self.global_step))
        return TrainSampling("binary", every)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        """Binary cross-entropy of the face logits."""
        if "image" not in batch:
            return None
        logits = self(batch["image"])
        loss = F.binary_cross_entropy_with_logits(logits, batch["label"])
        self.train_auc.update(torch.sigmoid(logits.detach()), batch["label"].long())
        size = len(batch["label"])
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        self.log("train/auc_frame", self.train_auc, on_step=False, on_epoch=True, batch_size=size)
        return loss

    def configure_optimizers(self) -> Any:
        """The configured optimizer, and its scheduler stepped on ``val/loss`` every epoch."""
        optimizer = hydra.utils.instantiate(self.hparams.optimizer)(self.net.parameters())
        if self.hparams.scheduler is None:
            return optimizer
        scheduler = hydra.utils.instantiate(self.hparams.scheduler)(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "strict": False},
        }

    def on_train_epoch_end(self) -> None:
        """Stop at the step budget or, if asked, once the learning rate is at its floor."""
        budget = self.hparams.max_steps
        if budget is not None and self.global_step >= budget:
            rank_zero_info(f"Stopping: {self.global_step} steps reached (max_steps={budget}).")
            self.trainer.should_stop = True
        scheduler = self.lr_schedulers()
        if (
            self.hparams.stop_at_min_lr
            and scheduler is not None
            and at_lr_floor(self.optimizers().optimizer, scheduler)
        ):
            rank_zero_info("Stopping: the learning rate reached its floor.")
            self.trainer.should_stop = True
