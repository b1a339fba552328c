"""Detector plots in the dashboard: how the scores separate, not only their AUC.

Every few validations :class:`DetectionPlots` logs

- ``val/roc``: the ROC curves of frames and videos (with their AUC), where an AUC alone
  hides whether the detector fails at low false-positive rates;
- ``val/score_histogram``: p(fake) of real and of fake faces (frames) and videos, which
  shows calibration and the threshold at 0.5 that the balanced accuracy uses;
- ``val/attention`` (attention models: EfficientNetAutoAttB4 and its siamese variant):
  a few validation faces of each class beside their attention map, with p(fake), which
  tells whether the model looks at the face or at the background.

wandb and TensorBoard get images; CSV-only runs get PNG files under ``<run dir>/images/``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor, nn
from torchmetrics.functional.classification import binary_auroc, binary_roc

from datamodules.face_transform import IMAGENET_MEAN, IMAGENET_STD
from datamodules.training.image_logging import log_image
from datamodules.training.media_logging import log_figure
from datamodules.training.validation_cadence import EveryNValidations
from fakedetect.module.base import DetectorModuleBase
from fakedetect.overlay import attention_panel

log = logging.getLogger(__name__)

CLASS_NAMES = ("real", "fake")


def roc_figure(tables: dict[str, dict[str, Tensor]]) -> Figure | None:
    """ROC curves of each level (``frame``, ``video``) that has both classes; None if none has."""
    figure = Figure(figsize=(4.2, 4.0), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    drawn = False
    for level, table in tables.items():
        labels = table["label"].long()
        if labels.numel() == 0 or labels.min() == labels.max():
            continue
        probabilities = torch.sigmoid(table["logit"].float())
        fpr, tpr, _ = binary_roc(probabilities, labels)
        auc = float(binary_auroc(probabilities, labels))
        axes.plot(fpr.numpy(), tpr.numpy(), label=f"{level} (AUC {auc:.3f}, n={labels.numel()})")
        drawn = True
    if not drawn:
        return None
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    axes.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right", fontsize=8)
    return figure


def histogram_figure(tables: dict[str, dict[str, Tensor]], bins: int) -> Figure:
    """p(fake) histograms per class, one panel per level, on the same [0, 1] bins."""
    figure = Figure(figsize=(4.0 * len(tables), 3.4), layout="constrained")
    edges = np.linspace(0.0, 1.0, bins + 1)
    for index, (level, table) in enumerate(tables.items()):
        axes = figure.add_subplot(1, len(tables), index + 1)
        probabilities = torch.sigmoid(table["logit"].float()).numpy()
        labels = table["label"].numpy()
        for value, name in enumerate(CLASS_NAMES):
            chosen = probabilities[labels == value]
            axes.hist(chosen, bins=edges, alpha=0.6, label=f"{name} (n={chosen.size})")
        axes.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        axes.set(title=f"{level}s", xlabel="p(fake)", ylabel="count", xlim=(0, 1))
        axes.legend(fontsize=8)
    return figure


def attention_source(net: nn.Module) -> nn.Module | None:
    """The network whose ``attention(images)`` gives the map (None: no attention model)."""
    for candidate in (net, getattr(net, "feature_extractor", None)):
        has_gate = callable(getattr(candidate, "gate", None))
        if has_gate and callable(getattr(candidate, "attention", None)):
            return candidate
    return None


def to_uint8_crops(images: Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation of ``(N, 3, S, S)`` faces: ``(N, S, S, 3)`` uint8 RGB."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = (images.float().cpu() * std + mean).clamp(0, 1) * 255
    return pixels.round().byte().permute(0, 2, 3, 1).numpy()


class DetectionPlots(EveryNValidations):
    """Log ROC curves, score histograms and attention overlays every N validations.

    Reads the scores the module computed for its validation metrics
    (``DetectorModuleBase.latest_scores``), so nothing is scored twice; only the few faces
    of the overlay pass through the network again. Does nothing for other modules (FOMM).

    Args:
        every_n_validations: plot at the 1st, (N+1)th, ... validation of a fit (0: never).
        faces_per_class: validation faces of each class in the attention overlay (0: none).
        tile: side in pixels of each face and each overlay.
        bins: histogram bins over [0, 1].
    """

    def __init__(
        self, every_n_validations: int = 5, faces_per_class: int = 4, tile: int = 96, bins: int = 20
    ) -> None:
        super().__init__(every_n_validations)
        if faces_per_class < 0 or tile < 8 or bins < 1:
            raise ValueError(
                "detection_plots needs faces_per_class >= 0, tile >= 8 and bins >= 1; got "
                f"{faces_per_class}, {tile}, {bins}"
            )
        self.faces_per_class = faces_per_class
        self.tile = tile
        self.bins = bins
        self._faces: dict[int, list[Tensor]] = {0: [], 1: []}

    def _due(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        return isinstance(pl_module, DetectorModuleBase) and self.due(trainer)

    def forget(self) -> None:
        """Drop the last validation's faces."""
        self._faces = {0: [], 1: []}

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the first few faces of each class, when overlays are due (on rank 0 only)."""
        if not self.faces_per_class or not trainer.is_global_zero:
            return
        if not self._due(trainer, pl_module):
            return
        if not isinstance(batch, dict) or "image" not in batch:
            return
        for label, kept in self._faces.items():
            missing = self.faces_per_class - len(kept)
            if missing > 0:
                chosen = batch["image"][batch["label"].long() == label][:missing]
                kept.extend(face.detach() for face in chosen)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Plot the epoch's scores (computed by the module) and the kept faces' attention."""
        if not self._due(trainer, pl_module):
            return
        result = pl_module.latest_scores.get("val")
        step = trainer.global_step
        if result is not None:
            self._log_score_plots(trainer, result, step)
        kept = self._faces
        self.forget()
        if any(kept.values()):
            self._log_attention(trainer, pl_module, kept, step)

    @rank_zero_only
    def _log_score_plots(self, trainer: pl.Trainer, result: dict[str, Any], step: int) -> None:
        tables = {"frame": result["frames"], "video": result["videos"]}
        if result["frames"]["logit"].numel() == 0:
            return
        roc = roc_figure(tables)
        if roc is None:
            log.info("No ROC curve at step %d: the validation set holds one class only", step)
        else:
            log_figure(trainer, "val/roc", roc, step)
        log_figure(trainer, "val/score_histogram", histogram_figure(tables, self.bins), step)

    @rank_zero_only
    def _log_attention(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        kept: dict[int, list[Tensor]],
        step: int,
    ) -> None:
        """One row per class: each face beside its attention map, captioned with p(fake)."""
        source = attention_source(pl_module.net)
        if source is None:
            return
        rows = []
        for label, faces in kept.items():
            if not faces:
                continue
            images = torch.stack(faces)
            with torch.no_grad():
                maps = source.attention(images)[:, 0].float().cpu().numpy()
                probabilities = torch.sigmoid(pl_module(images).float()).cpu()
            panels = [
                attention_panel(crop, heat, f"{CLASS_NAMES[label]} p(fake) {p:.2f}", self.tile)
                for crop, heat, p in zip(to_uint8_crops(images), maps, probabilities, strict=True)
            ]
            rows.append(np.concatenate(panels, axis=1))
        width = max(row.shape[1] for row in rows)
        rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0))) for row in rows]
        image = torch.from_numpy(np.concatenate(rows, axis=0)).permute(2, 0, 1).float() / 255.0
        log_image(trainer, "val/attention", image, step)
