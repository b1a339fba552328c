"""A sample animation in the dashboard: what the model does to a face, not only its L1.

Every few validations the callback animates a validation video's first frame with the
motion of another validation video (the use the model is trained for: another identity
drives the source), and logs ``source | driving | prediction`` side by side as a short
video (``val/sample_animation``; wandb plays it, other loggers keep the mp4 under the run
directory). With one validation video the source is that video's own first frame (the
reconstruction the validation L1 measures).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor

from datamodules.training.media_logging import log_video
from datamodules.training.validation_cadence import EveryNValidations
from fomm.inference import Animator
from fomm.module import FOMMLitModule


def side_by_side(source: Tensor, driving: Tensor, prediction: Tensor, size: int) -> Tensor:
    """``source | driving | prediction`` frames ``(T, 3, size, 3 * size)`` in [0, 1].

    Args:
        source: the still ``(3, H, W)``.
        driving: ``(T, 3, H, W)``.
        prediction: ``(T, 3, H, W)``.
        size: side of each panel (even, for H.264).
    """
    count = driving.shape[0]
    panels = [source.unsqueeze(0).expand(count, -1, -1, -1), driving, prediction]
    resized = [
        F.interpolate(p.float(), size=(size, size), mode="bilinear", align_corners=False)
        for p in panels
    ]
    return torch.cat(resized, dim=3).clamp(0, 1)


class SampleAnimation(EveryNValidations):
    """Log a short ``source | driving | prediction`` video of FOMM every N validations.

    Does nothing for other modules (the detectors), so the default
    callbacks can carry it for every model. Cheap by design: one source, at most
    ``frames`` driving frames, panels of ``size`` pixels.

    Args:
        every_n_validations: log at the 1st, (N+1)th, ... validation of a fit (0: never).
        frames: driving frames in the sample.
        size: side of each panel in pixels (rounded down to even).
        fps: playback rate.
        relative: relative motion transfer (the driving video's motion applied to the
            source's pose, as ``fomm.animate`` does by default); false drives the source
            with the driving keypoints themselves.
    """

    def __init__(
        self,
        every_n_validations: int = 5,
        frames: int = 16,
        size: int = 64,
        fps: float = 8.0,
        relative: bool = True,
    ) -> None:
        super().__init__(every_n_validations)
        if frames < 1 or size < 2 or fps <= 0:
            raise ValueError(
                f"sample_animation needs frames >= 1, size >= 2 and fps > 0; got {frames}, "
                f"{size}, {fps}"
            )
        self.frames = frames
        self.size = size - size % 2
        self.fps = fps
        self.relative = relative
        self._videos: list[Tensor] = []

    @staticmethod
    def _applies(pl_module: pl.LightningModule) -> bool:
        return isinstance(pl_module, FOMMLitModule)

    def forget(self) -> None:
        """Drop the last sample's videos."""
        self._videos = []

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the frames of the first two validation videos (when a sample is due; rank 0)."""
        if len(self._videos) >= 2 or not trainer.is_global_zero:
            return
        if not self._applies(pl_module) or not self.due(trainer):
            return
        video = batch.get("video") if isinstance(batch, dict) else None
        if video is not None and video.dim() == 5:
            self._videos.append(video[0, : self.frames].detach())

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Animate and log the sample."""
        if not self._videos:
            return
        driving = self._videos[-1]
        source = self._videos[0][0]
        networks = pl_module.networks
        animator = Animator(
            source,
            networks.kp_detector,
            networks.generator,
            relative=self.relative,
            channels_last=getattr(pl_module.hparams, "channels_last", False),
        )
        if self.relative:
            animator.set_initial(driving[0])
        prediction = animator(driving)["prediction"]
        frames = side_by_side(source.cpu(), driving.cpu(), prediction.cpu(), self.size)
        self._videos = []
        log_video(trainer, "val/sample_animation", frames, trainer.global_step, self.fps)
