"""The siamese recipe in one fit: triplet training of the extractor, then the head alone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import hydra
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import nn
from torchmetrics import MeanMetric

from datamodules.samplers import TrainSampling
from fakedetect.module.base import DetectorModuleBase, at_lr_floor
from fakedetect.nets import SiameseTuned


class SiameseDetectorModule(DetectorModuleBase):
    """The paper's siamese recipe in one fit: triplet-train the extractor, then train the head.

    Phase ``triplet``: the feature extractor learns with a triplet margin loss
    on pooled features, from batches of (fake, fake, real) and (real, real,
    fake) triplets; validation is the same loss on fixed validation triplets
    (``val/triplet_loss``; ``val/loss`` is logged as NaN, so no checkpoint of
    this phase is ever "best"). Phase ``head``: the extractor is frozen (eval
    mode, no gradients), restored to its best validation state, and only the
    ``BatchNorm1d + Linear`` head trains with binary cross-entropy; validation
    logs the usual metrics. Each phase has its own optimizer, plateau
    scheduler, step budget and validation cadence, and ends at its budget or
    when its learning rate reaches the floor. The phase, its start step and the
    best extractor state are saved in checkpoints, so a resumed run continues
    in the right phase. The DataModule is asked for new loaders every epoch
    (the module sets ``trainer.reload_dataloaders_every_n_epochs = 1``).

    Args:
        net: a :class:`fakedetect.nets.SiameseTuned` network or its Hydra config.
        triplet_optimizer: partial optimizer of the extractor in the triplet phase.
        head_optimizer: partial optimizer of the head in the head phase.
        triplet_scheduler: partial plateau scheduler on ``val/triplet_loss``; null for none.
        head_scheduler: partial plateau scheduler on ``val/loss``; null for none.
        triplet_margin: margin of the triplet loss.
        triplet_p: norm degree of its distances.
        triplet_max_steps: steps of the triplet phase (0 skips it, e.g. when
            ``init_from`` already holds a triplet-trained extractor).
        triplet_val_every_n_steps: validation cadence of the triplet phase.
        head_max_steps: steps of the head phase.
        head_val_every_n_steps: validation cadence of the head phase.
        restore_best_triplet: start the head phase from the extractor of the
            best triplet validation, as the official recipe does.
        stop_at_min_lr: end a phase once its learning rate is at its floor.
        monitor: see :class:`DetectorModuleBase`.
        monitor_mode: see :class:`DetectorModuleBase`.
        init_from: see :class:`DetectorModuleBase`.
        init_architecture: see :class:`DetectorModuleBase`.
        trust_checkpoint: see :class:`DetectorModuleBase`.
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        triplet_optimizer: Any,
        head_optimizer: Any,
        triplet_scheduler: Any = None,
        head_scheduler: Any = None,
        triplet_margin: float = 1.0,
        triplet_p: float = 2.0,
        triplet_max_steps: int = 60000,
        triplet_val_every_n_steps: int = 500,
        head_max_steps: int = 5000,
        head_val_every_n_steps: int = 50,
        restore_best_triplet: bool = True,
        stop_at_min_lr: bool = True,
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        init_from: str | None = None,
        init_architecture: str | None = None,
        trust_checkpoint: bool = False,
    ) -> None:
        super().__init__(net, monitor, monitor_mode, init_from, init_architecture, trust_checkpoint)
        if not isinstance(self.net, SiameseTuned):
            raise TypeError(
                f"SiameseDetectorModule needs a SiameseTuned network (e.g. "
                f"fakedetect.nets.EfficientNetAutoAttB4ST), got {type(self.net).__name__}."
            )
        self._save_plain_hyperparameters(net)
        self.automatic_optimization = False
        self.triplet_loss = nn.TripletMarginLoss(margin=triplet_margin, p=triplet_p)
        self.val_triplet_loss = MeanMetric()
        self.phase = "triplet" if triplet_max_steps > 0 else "head"
        self.phase_start_step = 0
        self.best_triplet_loss = math.inf
        self._best_extractor: dict[str, torch.Tensor] | None = None
        self.net.freeze_features(self.phase == "head")

    # Phases ---------------------------------------------------------------------------------

    def _phase_settings(self, phase: str) -> tuple[int, int]:
        """(step budget, validation cadence) of a phase."""
        if phase == "triplet":
            return self.hparams.triplet_max_steps, self.hparams.triplet_val_every_n_steps
        return self.hparams.head_max_steps, self.hparams.head_val_every_n_steps

    @property
    def steps_in_phase(self) -> int:
        """Optimizer steps taken in the current phase."""
        return self.global_step - self.phase_start_step

    @property
    def train_sampling(self) -> TrainSampling:
        """Triplets or balanced faces, up to the next validation of the current phase."""
        budget, every = self._phase_settings(self.phase)
        mode = "triplet" if self.phase == "triplet" else "binary"
        return TrainSampling(mode, max(1, min(every, budget - self.steps_in_phase)))

    def on_fit_start(self) -> None:
        """Ask for fresh loaders every epoch; warn if ``max_epochs`` cuts the recipe short."""
        trainer = self.trainer
        if trainer.reload_dataloaders_every_n_epochs != 1:
            rank_zero_info("Reloading dataloaders every epoch: batches change with the phase.")
            trainer.reload_dataloaders_every_n_epochs = 1
        epochs = 0
        for phase in ["triplet", "head"] if self.phase == "triplet" else ["head"]:
            budget, every = self._phase_settings(phase)
            done = self.steps_in_phase if phase == self.phase else 0
            epochs += math.ceil(max(0, budget - done) / every)
        if (
            not trainer.fast_dev_run
            and trainer.max_epochs not in (None, -1)
            and trainer.current_epoch + epochs > trainer.max_epochs
        ):
            rank_zero_warn(
                f"trainer.max_epochs={trainer.max_epochs} ends this run before the triplet-then-"
                f"head recipe does ({epochs} more epochs of one validation interval each); pass "
                "trainer.max_epochs=-1 to run it whole."
            )

    def _switch_to_head(self) -> None:
        if self.hparams.restore_best_triplet and self._best_extractor is not None:
            self.net.feature_extractor.load_state_dict(self._best_extractor)
            rank_zero_info(
                f"Head phase starts from the extractor of the best triplet validation "
                f"(val/triplet_loss={self.best_triplet_loss:.4f})."
            )
        self._best_extractor = None
        self.phase, self.phase_start_step = "head", self.global_step
        self.net.freeze_features(True)

    def on_train_epoch_end(self) -> None:
        """End the phase at its step budget or learning-rate floor; stop after the head phase."""
        index = 0 if self.phase == "triplet" else 1
        budget, _ = self._phase_settings(self.phase)
        floor = self.hparams.stop_at_min_lr and at_lr_floor(
            self.optimizers()[index].optimizer, self._scheduler(index)
        )
        if self.steps_in_phase < budget and not floor:
            return
        rank_zero_info(
            f"The {self.phase} phase ends after {self.steps_in_phase} steps"
            + (" (learning rate at its floor)." if floor else ".")
        )
        if self.phase == "triplet" and self.hparams.head_max_steps > 0:
            self._switch_to_head()
        else:
            self.trainer.should_stop = True

    # Steps ----------------------------------------------------------------------------------

    def triplet_step_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """Triplet margin loss of the pooled features of anchors, positives and negatives."""
        images = torch.cat([batch["anchor"], batch["positive"], batch["negative"]])
        anchor, positive, negative = self.net.features(images).chunk(3)
        return self.triplet_loss(anchor, positive, negative)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        """One optimizer step of the current phase."""
        triplet = self.phase == "triplet"
        if ("anchor" if triplet else "image") not in batch:
            return None
        if triplet:
            loss, size = self.triplet_step_loss(batch), len(batch["anchor"])
        else:
            loss = F.binary_cross_entropy_with_logits(self(batch["image"]), batch["label"])
            size = len(batch["label"])
        optimizer = self.optimizers()[0 if triplet else 1]
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()
        name = "train/triplet_loss" if triplet else "train/loss"
        self.log(name, loss, on_epoch=True, prog_bar=True, batch_size=size, sync_dist=True)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Triplet loss on validation triplets, or scores of validation faces."""
        if "anchor" in batch:
            self.val_triplet_loss.update(self.triplet_step_loss(batch), len(batch["anchor"]))
        elif "image" in batch:
            self._score_batch(batch, self.val_scores)

    def on_validation_epoch_end(self) -> None:
        """Log the phase's validation metrics, keep the best extractor, step the scheduler."""
        if self.phase == "head":
            value = self._log_scores("val", self.val_scores)["metrics"]["logloss_frame"]
            index = 1
        else:
            value, index = self.val_triplet_loss.compute(), 0
            self.val_triplet_loss.reset()
            self.log("val/triplet_loss", value, sync_dist=True)
            self.log("val/loss", math.nan, sync_dist=True)
            if not self.trainer.sanity_checking and float(value) < self.best_triplet_loss:
                self.best_triplet_loss = float(value)
                state = self.net.feature_extractor.state_dict()
                self._best_extractor = {k: v.detach().cpu().clone() for k, v in state.items()}
        scheduler = self._scheduler(index)
        if scheduler is not None and not self.trainer.sanity_checking:
            scheduler.step(float(value))

    def _scheduler(self, index: int) -> Any:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return None
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        names = [
            self.hparams.triplet_scheduler is not None,
            self.hparams.head_scheduler is not None,
        ]
        if not names[index]:
            return None
        return schedulers[sum(names[:index])]

    def configure_optimizers(self) -> Any:
        """Extractor optimizer (triplet phase) and head optimizer (head phase), with schedulers."""
        extractor = self.net.feature_extractor.parameters()
        optimizers = [
            hydra.utils.instantiate(self.hparams.triplet_optimizer)(extractor),
            hydra.utils.instantiate(self.hparams.head_optimizer)(self.net.classifier.parameters()),
        ]
        schedulers = [
            hydra.utils.instantiate(config)(optimizer)
            for config, optimizer in zip(
                (self.hparams.triplet_scheduler, self.hparams.head_scheduler),
                optimizers,
                strict=True,
            )
            if config is not None
        ]
        return optimizers, schedulers

    # Checkpoints ----------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save the phase, and during the triplet phase the best extractor so far."""
        checkpoint["siamese_phase"] = {
            "phase": self.phase,
            "start_step": self.phase_start_step,
            "best_triplet_loss": self.best_triplet_loss,
            "best_extractor": self._best_extractor,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume in the saved phase."""
        state = checkpoint.get("siamese_phase")
        if state is None:
            return
        self.phase, self.phase_start_step = state["phase"], state["start_step"]
        self.best_triplet_loss = state["best_triplet_loss"]
        self._best_extractor = state["best_extractor"]
        self.net.freeze_features(self.phase == "head")
