"""Frame- and video-level detection metrics, on torchmetrics.

A video's score is the sigmoid of the mean logit of its face crops (what the
paper reports); an ensemble averages its models' logits before that. Frame
logits are gathered across the epoch and across DDP processes by a torchmetrics
``Metric``, duplicates that a distributed sampler pads with are dropped, and
the metrics are computed once on the whole set:

- ``auc``: ROC AUC (``binary_auroc``);
- ``ap``: average precision (``binary_average_precision``);
- ``eer``: equal error rate, where the false-positive and false-negative rates
  cross on ``binary_roc``'s curve (linear interpolation between its two points
  around the crossing; torchmetrics has no EER of its own);
- ``logloss``: binary cross-entropy of the logits (``val/loss`` is the frame one);
- ``bacc``: balanced accuracy at probability 0.5: the mean of the real and the
  fake recall (``multiclass_recall`` per class), over the classes present, as
  scikit-learn's ``balanced_accuracy_score`` defines it.

AUC, AP and EER are NaN when only one class is present.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.functional.classification import (
    binary_auroc,
    binary_average_precision,
    binary_roc,
    multiclass_recall,
)
from torchmetrics.utilities import dim_zero_cat

from datamodules.video_keys import first_occurrences

METRIC_NAMES = ("auc", "ap", "eer", "logloss", "bacc")


def equal_error_rate(fpr: torch.Tensor, tpr: torch.Tensor) -> torch.Tensor:
    """The rate where false positives and false negatives are equally frequent.

    Args:
        fpr: false-positive rates of a ROC curve, non-decreasing (``binary_roc``).
        tpr: the matching true-positive rates.

    Returns:
        The EER, interpolated linearly between the two curve points around the
        crossing of FPR and FNR = 1 - TPR.
    """
    gap = (1 - tpr) - fpr  # decreasing from >= 0 to <= 0 along the curve
    crossing = int(torch.nonzero(gap <= 0)[0])
    if crossing == 0:
        return fpr[0].clone()
    before, after = gap[crossing - 1], gap[crossing]
    weight = before / (before - after)
    return fpr[crossing - 1] + weight * (fpr[crossing] - fpr[crossing - 1])


def detection_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """AUC, AP, EER, log loss and balanced accuracy of logits against 0/1 labels.

    Args:
        logits: ``(N,)`` scores, > 0 meaning fake.
        labels: ``(N,)`` 0 (real) or 1 (fake).

    Returns:
        A dict with the keys of ``METRIC_NAMES``; NaN where undefined.
    """
    nan = torch.tensor(math.nan)
    if logits.numel() == 0:
        return dict.fromkeys(METRIC_NAMES, nan)
    logits, labels = logits.float().cpu(), labels.float().cpu()
    target = labels.long()
    recalls = multiclass_recall((logits > 0).long(), target, num_classes=2, average="none")
    present = torch.bincount(target, minlength=2) > 0
    metrics = {
        "logloss": F.binary_cross_entropy_with_logits(logits, labels),
        "bacc": recalls[present].mean(),
    }
    if target.min() == target.max():
        metrics.update(auc=nan, ap=nan, eer=nan)
    else:
        probabilities = torch.sigmoid(logits)
        fpr, tpr, _ = binary_roc(probabilities, target)
        metrics.update(
            auc=binary_auroc(probabilities, target),
            ap=binary_average_precision(probabilities, target),
            eer=equal_error_rate(fpr, tpr),
        )
    return {name: metrics[name] for name in METRIC_NAMES}


class DetectionScores(Metric):
    """Collect frame logits over an epoch; compute frame- and video-level metrics and tables.

    ``compute()`` returns ``{"metrics": {"auc_frame": ..., "auc_video": ...},
    "frames": {...}, "videos": {...}}``: the metric values, the de-duplicated
    frame table (``video_key``, ``frame``, ``face_rank``, ``logit``, ``label``)
    and the video table (``video_key``, ``logit`` = mean frame logit, ``score``
    = its sigmoid, ``label``, ``frames``).
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("logits", "labels", "video_keys", "frames", "face_ranks"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        video_keys: torch.Tensor,
        frames: torch.Tensor,
        face_ranks: torch.Tensor | None = None,
    ) -> None:
        """Add a batch of frame logits with their labels and identities."""
        self.logits.append(logits.detach().float().flatten())
        self.labels.append(labels.detach().float().flatten())
        self.video_keys.append(video_keys.long().flatten())
        self.frames.append(frames.long().flatten())
        ranks = torch.zeros_like(self.frames[-1]) if face_ranks is None else face_ranks
        self.face_ranks.append(ranks.long().flatten())

    def _frame_table(self) -> dict[str, torch.Tensor]:
        if not isinstance(self.logits, torch.Tensor) and not self.logits:
            empty_long, empty = torch.zeros(0, dtype=torch.long), torch.zeros(0)
            return {
                "video_key": empty_long,
                "frame": empty_long,
                "face_rank": empty_long,
                "logit": empty,
                "label": empty,
            }
        table = {
            "video_key": dim_zero_cat(self.video_keys),
            "frame": dim_zero_cat(self.frames),
            "face_rank": dim_zero_cat(self.face_ranks),
            "logit": dim_zero_cat(self.logits),
            "label": dim_zero_cat(self.labels),
        }
        identity = torch.stack([table["video_key"], table["frame"], table["face_rank"]], dim=1)
        first = first_occurrences(identity)
        return {name: values[first].cpu() for name, values in table.items()}

    @staticmethod
    def _video_table(frames: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        keys, inverse = torch.unique(frames["video_key"], return_inverse=True)
        counts = torch.zeros(len(keys)).index_add_(0, inverse, torch.ones(len(inverse)))
        logit_sums = torch.zeros(len(keys)).index_add_(0, inverse, frames["logit"])
        labels = torch.zeros(len(keys)).scatter_reduce(0, inverse, frames["label"], reduce="amax")
        logits = logit_sums / counts.clamp(min=1)
        return {
            "video_key": keys,
            "logit": logits,
            "score": torch.sigmoid(logits),
            "label": labels,
            "frames": counts.long(),
        }

    def compute(self) -> dict[str, dict[str, torch.Tensor]]:
        """Metrics at both levels, and the frame and video tables they come from."""
        frames = self._frame_table()
        videos = self._video_table(frames)
        metrics = {}
        for level, table in (("frame", frames), ("video", videos)):
            for name, value in detection_metrics(table["logit"], table["label"]).items():
                metrics[f"{name}_{level}"] = value
        return {"metrics": metrics, "frames": frames, "videos": videos}
