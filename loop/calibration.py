"""Calibration of the loop's detectors: a temperature or Platt map fitted on validation logits.

A detector can rank perfectly and still be unusable at the 0.5 threshold: the loop's
supervised detector gives held-out real videos about 0.8 fake-probability. A map of the
video logit fitted on the validation split (never the test split) shows how much of
that a threshold-free fix recovers:

- ``temperature``: ``sigmoid(slope * logit)``: sharpens or softens the scores; no logit
  crosses 0, so the verdicts at 0.5 (balanced accuracy) never change;
- ``platt``: ``sigmoid(slope * logit + bias)``: the bias moves the threshold too.

Both minimise the class-balanced log loss with Platt's (1999) smoothed targets,
``(N+ + 1) / (N+ + 2)`` for a fake and ``1 / (N- + 2)`` for a real, so a validation set
the detector separates perfectly (common with a few videos) gives a finite slope. The
slope is kept positive (fitted as its logarithm), so the ranking and every AUC stay.

Measured before and after: expected calibration error (the fake probability's
reliability in equal-width bins, weighted by the share of videos in each), balanced
accuracy at 0.5 and log loss (:func:`fakedetect.metrics.detection_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from fakedetect.metrics import detection_metrics

METHODS = ("temperature", "platt")
DEFAULT_BINS = 10


@dataclass(frozen=True)
class LogitMap:
    """A fitted ``slope * logit + bias`` (``bias`` 0 for a temperature, ``1 / slope`` = T)."""

    method: str
    slope: float
    bias: float

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """The calibrated logits."""
        return self.slope * np.asarray(logits, dtype=np.float64) + self.bias


def fit_logit_map(logits: np.ndarray, labels: np.ndarray, method: str = "platt") -> LogitMap:
    """Fit a temperature or Platt map on validation logits (module docstring).

    Raises:
        ValueError: an unknown method, or not at least one real and one fake.
    """
    if method not in METHODS:
        raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    x = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    fakes, reals = float(y.sum()), float(len(y) - y.sum())
    if fakes == 0 or reals == 0:
        raise ValueError(
            f"A calibration needs real and fake validation videos; got {int(reals)} real "
            f"and {int(fakes)} fake."
        )
    targets = np.where(y > 0.5, (fakes + 1) / (fakes + 2), 1 / (reals + 2))
    weights = np.where(y > 0.5, len(y) / (2 * fakes), len(y) / (2 * reals))
    # Fitted on logits of unit size: a barely trained detector's logits differ by 1e-5,
    # where the loss is too flat in the slope for the optimiser to move at all.
    size = float(np.sqrt(np.mean(x**2))) or 1.0
    x = x / size

    def loss(parameters: np.ndarray) -> float:
        z = np.exp(parameters[0]) * x + (parameters[1] if method == "platt" else 0.0)
        losses = -(targets * log_expit(z) + (1 - targets) * log_expit(-z))
        return float(np.mean(weights * losses))

    start = np.zeros(2 if method == "platt" else 1)
    fitted = minimize(loss, start, method="L-BFGS-B").x
    slope = float(np.exp(fitted[0])) / size
    return LogitMap(method, slope, float(fitted[1]) if method == "platt" else 0.0)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS
) -> float:
    """Count-weighted mean ``|fraction fake - mean probability|`` over equal-width bins."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if not len(probabilities):
        return float("nan")
    which = np.clip((probabilities * bins).astype(int), 0, bins - 1)
    gaps = 0.0
    for index in np.unique(which):
        inside = which == index
        gaps += inside.sum() * abs(labels[inside].mean() - probabilities[inside].mean())
    return float(gaps / len(probabilities))


def calibration_measures(
    logits: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS
) -> dict[str, float]:
    """``ece``, ``bacc`` (balanced accuracy at 0.5) and ``logloss`` of video logits."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    measured = detection_metrics(torch.tensor(logits), torch.tensor(labels))
    return {
        "ece": expected_calibration_error(expit(logits), labels, bins),
        "bacc": float(measured["bacc"]),
        "logloss": float(measured["logloss"]),
    }
