"""Fit a detector's calibration on every validation and keep it in the checkpoints.

:class:`ValidationCalibration` (in ``callbacks=default``) fits a Platt map (or a
temperature) on the validation logits the detector module just gathered, and writes it
into every checkpoint saved at that same step, so the best checkpoint carries the map
fitted on *its own* validation predictions; a checkpoint saved at another step (the
periodic ``last.ckpt``) gets none rather than one fitted for other weights. Before a
test, the tested checkpoint's map is loaded back, and the module logs the calibrated
test numbers next to the raw ones (``test/logloss_video_calibrated`` ...). The test split
is never used to fit. Modules that are not detectors (FOMM) are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl

from fakedetect.calibration import LEVELS, METHODS, fit_calibration
from fakedetect.calibration_store import CHECKPOINT_KEY, describe, read_calibration
from fakedetect.reliability import DEFAULT_BINS

log = logging.getLogger(__name__)


class ValidationCalibration(pl.Callback):
    """Fit a calibration map on each validation of a detector and store it with the weights.

    Args:
        method: ``platt`` (slope and bias, the default) or ``temperature``.
        level: fit on ``video`` mean logits (what ``predict`` reports) or ``frame`` logits.
        balanced: weigh real and fake equally.
        bins: reliability bins of the ECE recorded before and after.
    """

    def __init__(
        self,
        method: str = "platt",
        level: str = "video",
        balanced: bool = True,
        bins: int = DEFAULT_BINS,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(METHODS)}")
        if level not in LEVELS:
            raise ValueError(f"calibration level must be one of {', '.join(LEVELS)}")
        self.method, self.level, self.balanced, self.bins = method, level, balanced, bins
        self._warned = False
        self._fitted_tables: dict[str, Any] | None = None

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Fit on what this validation gathered (before the checkpoint callbacks save)."""
        latest = getattr(module, "latest_scores", None)
        tables = latest.get("val") if isinstance(latest, dict) else None
        # Fit once per computed validation: a validation end without new scores keeps the map.
        if tables is None or tables is self._fitted_tables:
            return
        self._fitted_tables = tables
        if trainer.sanity_checking:
            return
        table = tables["videos" if self.level == "video" else "frames"]
        try:
            module.calibration = fit_calibration(
                table["logit"].double().numpy(),
                table["label"].double().numpy(),
                self.method,
                self.level,
                self.balanced,
                fitted_on="val",
                bins=self.bins,
                step=trainer.global_step,
            )
        except ValueError as error:
            module.calibration = None
            if not self._warned:
                log.warning("No calibration at step %d: %s", trainer.global_step, error)
                self._warned = True
            return
        log.debug("Calibration at step %d: %s", trainer.global_step, describe(module.calibration))

    def on_save_checkpoint(
        self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Store the map in a checkpoint of the weights it was fitted for."""
        calibration = getattr(module, "calibration", None)
        if calibration is not None and calibration.step == trainer.global_step:
            checkpoint[CHECKPOINT_KEY] = calibration.to_dict()

    def on_test_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Load the tested checkpoint's map (or keep the in-memory one if it fits the weights)."""
        if not hasattr(module, "calibration"):
            return
        if trainer.ckpt_path:
            module.calibration = read_calibration(trainer.ckpt_path)
        elif module.calibration is not None and module.calibration.step != trainer.global_step:
            module.calibration = None
        log.info("Testing with calibration: %s", describe(module.calibration))
