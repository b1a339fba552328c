"""What every detector LightningModule shares: the network, its start weights, evaluation."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only
from torch import nn

from datamodules.plain import plain_container
from datamodules.video_keys import video_key
from fakedetect.calibration import Calibration, evaluation_calibration_metrics
from fakedetect.metrics import DetectionScores
from fakedetect.tables import write_test_tables
from fakedetect.weights import load_detector, transfer_weights

log = logging.getLogger(__name__)


def at_lr_floor(optimizer: torch.optim.Optimizer, scheduler: Any) -> bool:
    """Whether a plateau scheduler has brought the learning rate down to its ``min_lr``."""
    floors = getattr(scheduler, "min_lrs", None)
    learning_rate = float(optimizer.param_groups[0]["lr"])
    return bool(floors) and learning_rate <= floors[0] * (1 + 1e-6)


class DetectorModuleBase(pl.LightningModule):
    """What every detector module shares: the network, its start weights, evaluation.

    Validation and test gather the frame logits of the whole epoch (across
    processes), then log frame- and video-level metrics (``val/auc_video``,
    ``test/eer_frame``, ...; ``val/loss`` is the frame log loss; ``val/ece_video``
    the expected calibration error). Test also writes ``test/videos.csv``,
    ``test/frames.csv`` and ``test/metrics.csv`` in the run directory and, when the
    tested checkpoint carries a calibration fitted on validation
    (:mod:`fakedetect.calibration_callback`), logs ``test/{ece,logloss,bacc}_video_calibrated``.

    Args:
        net: the network, or its Hydra config (recorded in checkpoints, so
            :func:`fakedetect.load_detector` rebuilds it).
        monitor: the validation metric the best checkpoint is chosen by.
        monitor_mode: ``min`` or ``max`` for ``monitor``.
        init_from: weights to start from: one of our checkpoints or the paper's
            ``.pth``; a binary detector initialises a siamese one's extractor.
        init_architecture: the official architecture name of ``init_from``
            (null infers it).
        trust_checkpoint: allow an ``init_from`` file that needs full unpickling (it can
            run code); the paper's weights and our checkpoints do not need it.
    """

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        init_from: str | None = None,
        init_architecture: str | None = None,
        trust_checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if monitor_mode not in ("min", "max"):
            raise ValueError(f"monitor_mode={monitor_mode!r} must be 'min' or 'max'.")
        self.net = (
            net if isinstance(net, nn.Module) else hydra.utils.instantiate(plain_container(net))
        )
        self.val_scores = DetectionScores()
        self.test_scores = DetectionScores()
        self._video_names: dict[int, str] = {}
        # The last computed scores of each stage (frame and video tables), for the
        # dashboard callback (fakedetect.dashboard.DetectionPlots) to plot and the
        # calibration callback (fakedetect.calibration_callback) to fit on.
        self.latest_scores: dict[str, dict[str, Any]] = {}
        self._initialised = init_from is None
        # Set by fakedetect.calibration_callback.ValidationCalibration.
        self.calibration: Calibration | None = None

    def _save_plain_hyperparameters(self, net: Any) -> None:
        """Record the caller's arguments as plain data (the network only as a config)."""
        frame = inspect.currentframe().f_back
        self.save_hyperparameters(
            ignore=["net"] if isinstance(net, nn.Module) else None, frame=frame, logger=False
        )
        for name, value in list(self.hparams.items()):
            self.hparams[name] = plain_container(value)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Face logits ``(B,)``."""
        return self.net(images)

    def setup(self, stage: str) -> None:
        """Load ``init_from`` once, before a resumed checkpoint (if any) overwrites it."""
        if self._initialised:
            return
        path, architecture = self.hparams.init_from, self.hparams.init_architecture
        trusted = self.hparams.trust_checkpoint
        what = transfer_weights(load_detector(path, architecture, trusted), self.net)
        rank_zero_info(f"Initialised {what} from {path}")
        self._initialised = True

    # Evaluation ---------------------------------------------------------------------------

    def _score_batch(self, batch: dict[str, Any], scores: DetectionScores) -> torch.Tensor | None:
        if "image" not in batch:  # every crop of the batch was unreadable
            return None
        logits = self(batch["image"])
        keys = []
        for video in batch["video"]:
            key = video_key(video)
            self._video_names[key] = video
            keys.append(key)
        scores.update(
            logits,
            batch["label"],
            torch.tensor(keys, device=logits.device),
            batch["frame"],
            batch.get("face_rank"),
        )
        return F.binary_cross_entropy_with_logits(logits, batch["label"])

    def _log_scores(self, stage: str, scores: DetectionScores) -> dict[str, Any]:
        result = scores.compute()
        scores.reset()
        self.latest_scores[stage] = result
        metrics = result["metrics"]
        # The values are already gathered across processes; sync_dist only averages equal values.
        self.log(f"{stage}/loss", metrics["logloss_frame"], sync_dist=True)
        self.log_dict({f"{stage}/{name}": value for name, value in metrics.items()}, sync_dist=True)
        videos = result["videos"]
        calibrated = evaluation_calibration_metrics(
            stage, videos["logit"].numpy(), videos["label"].numpy(), self.calibration
        )
        self.log_dict(calibrated, sync_dist=True)
        return result

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Score one batch of validation faces."""
        self._score_batch(batch, self.val_scores)

    def on_validation_epoch_end(self) -> None:
        """Log the validation metrics of the whole epoch."""
        self._log_scores("val", self.val_scores)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Score one batch of test faces."""
        self._score_batch(batch, self.test_scores)

    def on_test_epoch_end(self) -> None:
        """Log the test metrics and write the per-video, per-frame and metric tables."""
        result = self._log_scores("test", self.test_scores)
        names = self._gather_video_names()
        self._write_tables(result, names)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Face logits with their video ids and frames (empty where every crop was unreadable)."""
        if "image" not in batch:
            return {"video": [], "frame": torch.zeros(0, dtype=torch.long), "logit": torch.zeros(0)}
        return {"video": batch["video"], "frame": batch["frame"], "logit": self(batch["image"])}

    def _gather_video_names(self) -> dict[int, str]:
        names = dict(self._video_names)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            everyone: list[dict[int, str]] = [{}] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(everyone, names)
            for other in everyone:
                names.update(other)
        return names

    @rank_zero_only
    def _write_tables(self, result: dict[str, Any], names: dict[int, str]) -> None:
        folder = write_test_tables(result, names, Path(self.trainer.default_root_dir) / "test")
        log.info("Test tables written to %s", folder)
