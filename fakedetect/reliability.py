"""How far a detector's probabilities are from frequencies: reliability bins, ECE, the diagram.

A detector is calibrated when, of the videos it gives probability p of being fake, a
fraction p is fake. The reliability of the *fake* probability is measured (not the
top-label confidence): the probabilities are cut into equal-width bins over [0, 1], and
in each bin the fraction of fakes is compared with the mean probability, as
scikit-learn's ``calibration_curve`` and the reliability diagram do. The expected
calibration error (ECE) is the mean gap, weighted by the share of videos in each bin.

Why the fake probability: it is the number a user thresholds at 0.5, and a detector
whose real videos average 0.91 is off by 0.91 in its top bins, which the top-label ECE
folds together with the fakes' confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

DEFAULT_BINS = 15


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS
) -> pd.DataFrame:
    """One row per non-empty bin: ``low, high, count, mean_probability, fraction_fake``.

    Args:
        probabilities: fake probabilities in [0, 1].
        labels: 0 (real) or 1 (fake), as many as ``probabilities``.
        bins: equal-width bins over [0, 1]; a probability of exactly 1 goes in the last.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    if probabilities.shape != labels.shape:
        raise ValueError(
            f"{len(probabilities)} probabilities but {len(labels)} labels; give one label each."
        )
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for index in np.unique(which):
        inside = which == index
        rows.append(
            {
                "low": edges[index],
                "high": edges[index + 1],
                "count": int(inside.sum()),
                "mean_probability": float(probabilities[inside].mean()),
                "fraction_fake": float(labels[inside].mean()),
            }
        )
    columns = ["low", "high", "count", "mean_probability", "fraction_fake"]
    return pd.DataFrame(rows, columns=columns)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = DEFAULT_BINS
) -> float:
    """The count-weighted mean |fraction fake - mean probability| over the bins (NaN if empty)."""
    table = reliability_bins(probabilities, labels, bins)
    if table.empty:
        return float("nan")
    gaps = (table["fraction_fake"] - table["mean_probability"]).abs()
    return float((gaps * table["count"]).sum() / table["count"].sum())


def plot_reliability(
    curves: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    path: str | Path,
    title: str,
    bins: int = DEFAULT_BINS,
) -> Path:
    """Write a reliability diagram PNG: one panel per test set, one line per variant.

    Args:
        curves: ``{panel: {variant: (probabilities, labels)}}``, e.g. ``{"celebdf":
            {"raw": ..., "calibrated": ...}}``; each line is labelled with its ECE.
        path: the PNG to write (its folder is created).
        title: the figure's title (the detector).
        bins: reliability bins.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    panels = list(curves)
    figure = Figure(figsize=(3.6 * max(1, len(panels)), 3.8), layout="constrained")
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=False):
        axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect")
        for variant, (probabilities, labels) in curves[panel].items():
            table = reliability_bins(probabilities, labels, bins)
            ece = expected_calibration_error(probabilities, labels, bins)
            axis.plot(
                table["mean_probability"],
                table["fraction_fake"],
                marker="o",
                markersize=3,
                label=f"{variant} (ECE {ece:.3f})",
            )
        axis.set_title(panel, fontsize=9)
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("mean fake probability")
        axis.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("fraction of fakes")
    figure.suptitle(title, fontsize=10)
    figure.savefig(path, dpi=110)
    return path
