"""Callbacks that act every N validations: the cadence both papers' dashboards share."""

from __future__ import annotations

import pytorch_lightning as pl


class EveryNValidations(pl.Callback):
    """Count a fit's validations and say when the Nth comes round (the 1st, N+1th, ...).

    Why a count of validations rather than of epochs or steps: a detector validates every
    few hundred steps inside long epochs and FOMM once per epoch; what costs is the
    validation-time drawing, so that is what is spaced. The sanity check is not counted.

    Args:
        every_n_validations: act at the 1st, (N+1)th, ... validation (0: never).
    """

    def __init__(self, every_n_validations: int) -> None:
        if every_n_validations < 0:
            raise ValueError(f"every_n_validations must be >= 0, got {every_n_validations}")
        self.every_n_validations = every_n_validations
        self._validations = 0

    def due(self, trainer: pl.Trainer) -> bool:
        """Whether the current validation is one to act on."""
        every = self.every_n_validations
        return bool(every) and not trainer.sanity_checking and (self._validations - 1) % every == 0

    def forget(self) -> None:
        """Drop what the last validation collected (subclasses override)."""

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Count real validations and forget the last one's collection."""
        self.forget()
        if not trainer.sanity_checking:
            self._validations += 1
