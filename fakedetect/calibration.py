"""Calibrate a detector's probabilities on its validation split: Platt scaling or a temperature.

A detector can rank perfectly (AUC 1.0) and still be unusable at the 0.5 threshold: the
loop's first detector gave its real test videos 0.91 fake-probability on average. A map
fitted on the validation logits fixes what it can:

- ``platt`` (the default): ``p = sigmoid(slope * logit + bias)``. The bias moves the
  threshold, so it can bring reals that all score 0.91 back below 0.5;
- ``temperature``: ``p = sigmoid(logit / T)``, the bias fixed at 0. It only sharpens or
  softens: it cannot move any logit across 0, so a detector whose reals all score above
  0.5 keeps them there (balanced accuracy unchanged), whatever T is.

Both are fitted by minimising the log loss with L-BFGS on ``log slope`` (the slope stays
positive, so the ranking, and the AUC, never change) and the bias. Two guards for small
validation sets, where a detector often separates the classes perfectly and an unguarded
fit would push the slope to infinity:

- Platt's targets: a fake counts as ``(N+ + 1) / (N+ + 2)``, a real as ``1 / (N- + 2)``
  instead of 1 and 0 (Platt 1999), which keeps the optimum finite;
- ``balanced=True`` weighs the classes equally, so the calibrated probability is for equal
  priors and 0.5 is the threshold of balanced accuracy, whatever the validation mix (FF++
  has four fakes per real video).

The map is fitted on video logits by default (``level=video``: the mean face logit of
each video, the score :mod:`fakedetect.predict` reports); ``level=frame`` fits it on the
face logits. It is affine, so either way it applies to a video's mean logit exactly as to
its faces, and, for an ensemble, to each member before the logits are averaged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit

from fakedetect.metrics import detection_metrics
from fakedetect.reliability import DEFAULT_BINS, expected_calibration_error

METHODS = ("platt", "temperature")
LEVELS = ("video", "frame")


def calibration_measures(
    logits: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS
) -> dict[str, float]:
    """``ece``, ``nll`` (log loss) and ``bacc`` (balanced accuracy at 0.5) of logits."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    measured = detection_metrics(torch.tensor(logits), torch.tensor(labels))
    return {
        "ece": expected_calibration_error(expit(logits), labels, bins),
        "nll": float(measured["logloss"]),
        "bacc": float(measured["bacc"]),
    }


@dataclass
class Calibration:
    """A fitted map from a detector's logit to a calibrated one: ``slope * logit + bias``.

    Attributes:
        method: ``platt`` or ``temperature``.
        slope: the logit's factor (``1 / temperature``).
        bias: added after scaling (0 for ``temperature``).
        level: what it was fitted on: ``video`` (mean logits) or ``frame`` (face logits).
        fitted_on: where the logits came from (``val``: never the test split).
        samples: videos (or faces) it was fitted on.
        balanced: whether the classes were weighed equally.
        before: ``ece``, ``nll``, ``bacc`` on the fitting logits before the map.
        after: the same after it.
        step: the training step whose validation it was fitted on (None outside training).
    """

    method: str
    slope: float
    bias: float
    level: str = "video"
    fitted_on: str = "val"
    samples: int = 0
    balanced: bool = True
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    step: int | None = None

    @property
    def temperature(self) -> float:
        """``T`` of ``sigmoid(logit / T)``: the inverse slope."""
        return 1.0 / self.slope

    def apply(self, logits: np.ndarray | float) -> np.ndarray:
        """Calibrated logits."""
        return self.slope * np.asarray(logits, dtype=np.float64) + self.bias

    def probability(self, logits: np.ndarray | float) -> np.ndarray:
        """Calibrated fake probabilities."""
        return expit(self.apply(logits))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (``temperature``, ``ece_before`` ... flattened in)."""
        record = asdict(self)
        before, after = record.pop("before"), record.pop("after")
        record["temperature"] = self.temperature
        for name in ("ece", "nll", "bacc"):
            record[f"{name}_before"] = before.get(name)
            record[f"{name}_after"] = after.get(name)
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Calibration:
        """Read what :meth:`to_dict` wrote (a temperature alone is enough)."""
        if "slope" in record:
            slope = float(record["slope"])
        elif "temperature" in record:
            slope = 1.0 / float(record["temperature"])
        else:
            raise ValueError(f"A calibration needs a slope or a temperature; got {dict(record)}")
        if not math.isfinite(slope) or slope <= 0:
            raise ValueError(f"A calibration's slope must be positive and finite, got {slope}")
        measures = ("ece", "nll", "bacc")
        return cls(
            method=str(record.get("method", "temperature")),
            slope=slope,
            bias=float(record.get("bias", 0.0)),
            level=str(record.get("level", "video")),
            fitted_on=str(record.get("fitted_on", "val")),
            samples=int(record.get("samples", 0)),
            balanced=bool(record.get("balanced", True)),
            before={m: record[f"{m}_before"] for m in measures if f"{m}_before" in record},
            after={m: record[f"{m}_after"] for m in measures if f"{m}_after" in record},
            step=record.get("step"),
        )


def _fit_map(
    logits: np.ndarray, labels: np.ndarray, method: str, balanced: bool
) -> tuple[float, float]:
    """``(slope, bias)`` minimising the (weighted) log loss against Platt's targets."""
    # Fitted on logits of unit size, then scaled back: a barely trained detector's logits
    # can differ by 1e-5, where the loss is too flat in the slope for the optimiser to move.
    size = float(np.sqrt(np.mean(np.square(logits)))) or 1.0
    x = torch.tensor(logits / size, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    fakes = y.sum()
    reals = len(y) - fakes
    targets = torch.where(y > 0.5, (fakes + 1) / (fakes + 2), 1 / (reals + 2))
    weights = torch.ones_like(y)
    if balanced:
        weights = torch.where(y > 0.5, len(y) / (2 * fakes), len(y) / (2 * reals))
    log_slope = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=method == "platt")
    parameters = [log_slope, bias] if method == "platt" else [log_slope]
    optimizer = torch.optim.LBFGS(
        parameters, lr=1.0, max_iter=500, line_search_fn="strong_wolfe", tolerance_change=1e-12
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        losses = F.binary_cross_entropy_with_logits(
            log_slope.exp() * x + bias, targets, reduction="none"
        )
        loss = (weights * losses).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_slope.detach().exp()) / size, float(bias.detach())


def fit_calibration(
    logits: np.ndarray,
    labels: np.ndarray,
    method: str = "platt",
    level: str = "video",
    balanced: bool = True,
    fitted_on: str = "val",
    bins: int = DEFAULT_BINS,
    step: int | None = None,
) -> Calibration:
    """Fit a calibration map on validation logits (see the module docstring).

    Args:
        logits: ``(N,)`` validation logits (video means for ``level=video``).
        labels: ``(N,)`` 0 (real) or 1 (fake).
        method: ``platt`` (slope and bias) or ``temperature`` (slope only).
        level: what the logits are, recorded with the map.
        balanced: weigh real and fake equally.
        fitted_on: where the logits come from, recorded (keep it a validation split).
        bins: reliability bins of the ECE before and after.
        step: the training step, recorded.

    Raises:
        ValueError: an unknown method or level, non-finite logits, or fewer than one
            real and one fake.
    """
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    if level not in LEVELS:
        raise ValueError(f"calibration level must be one of {', '.join(LEVELS)}, got {level!r}")
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if logits.shape != labels.shape:
        raise ValueError(f"{len(logits)} logits but {len(labels)} labels")
    if not np.isfinite(logits).all():
        raise ValueError("calibration logits must be finite (drop the videos without a face)")
    if not (labels == 0).any() or not (labels == 1).any():
        raise ValueError(
            f"fitting a calibration needs real and fake {level}s; {fitted_on} has "
            f"{int((labels == 0).sum())} real and {int((labels == 1).sum())} fake"
        )
    slope, bias = _fit_map(logits, labels, method, balanced)
    return Calibration(
        method=method,
        slope=slope,
        bias=bias,
        level=level,
        fitted_on=fitted_on,
        samples=len(logits),
        balanced=balanced,
        before=calibration_measures(logits, labels, bins),
        after=calibration_measures(slope * logits + bias, labels, bins),
        step=step,
    )


def calibrated_ensemble_logits(
    member_logits: Mapping[str, np.ndarray], calibrations: Mapping[str, Calibration | None]
) -> np.ndarray | None:
    """The mean of the members' calibrated logits; None unless every member has a calibration.

    Why per member: each member was fitted on its own logits; the map is affine, so
    calibrating the members' video means equals calibrating every face first.
    """
    if not member_logits or any(calibrations.get(name) is None for name in member_logits):
        return None
    calibrated = [calibrations[name].apply(logits) for name, logits in member_logits.items()]
    return np.mean(np.stack(calibrated), axis=0)


def evaluation_calibration_metrics(
    stage: str, logits: np.ndarray, labels: np.ndarray, calibration: Calibration | None
) -> dict[str, float]:
    """What a detector module logs about calibration after an evaluation epoch.

    ``<stage>/ece_video`` always; on ``test`` with a calibration, the calibrated video
    ECE, log loss and balanced accuracy too (``test/logloss_video_calibrated`` ...).
    Nothing calibrated is logged for validation: the map was fitted there.
    """
    if len(logits) == 0:
        return {}
    raw = calibration_measures(logits, labels)
    logged = {f"{stage}/ece_video": raw["ece"]}
    if stage == "test" and calibration is not None:
        after = calibration_measures(calibration.apply(logits), labels)
        names = {"ece": "ece", "nll": "logloss", "bacc": "bacc"}
        for name, value in after.items():
            logged[f"test/{names[name]}_video_calibrated"] = value
    return logged


def calibrated_video_score(
    member_logits: Mapping[str, np.ndarray], calibrations: Mapping[str, Calibration | None]
) -> float:
    """A video's calibrated fake probability from its members' face logits (NaN if none).

    Args:
        member_logits: each member's logits of the video's scored faces.
        calibrations: each member's map; NaN unless every member has one.
    """
    if not member_logits or any(len(logits) == 0 for logits in member_logits.values()):
        return float("nan")
    means = {name: np.mean(logits, dtype=np.float64) for name, logits in member_logits.items()}
    combined = calibrated_ensemble_logits(means, calibrations)
    return float("nan") if combined is None else float(expit(combined))
