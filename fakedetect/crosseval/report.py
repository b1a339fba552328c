"""What a cross-dataset evaluation shows: the heatmap, and the table sent to the loggers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger

from datamodules.training.loggers import loggable_table

PREFIX = "crosseval"


def column_name(test_set: str, subset: str) -> str:
    """``celebdf`` for a whole set, ``ffpp/Deepfakes`` for one of its methods."""
    return test_set if subset == "all" else f"{test_set}/{subset}"


def auc_matrix(table: pd.DataFrame, metric: str = "auc_video") -> pd.DataFrame:
    """Detectors x test sets (and their methods) of one metric, in the table's order."""
    columns = [column_name(s, u) for s, u in zip(table["test_set"], table["subset"], strict=True)]
    named = table.assign(column=columns)
    matrix = named.pivot(index="detector", columns="column", values=metric)
    return matrix.loc[list(dict.fromkeys(named["detector"])), list(dict.fromkeys(columns))]


def write_heatmap(table: pd.DataFrame, path: str | Path, metric: str = "auc_video") -> Path:
    """A detectors x test sets heatmap of ``metric`` (0.5 chance in the middle of the scale)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matrix = auc_matrix(table, metric)
    rows, columns = matrix.shape
    figure = Figure(figsize=(1.6 + 1.15 * columns, 1.2 + 0.55 * rows), layout="constrained")
    axis = figure.subplots()
    values = matrix.to_numpy(dtype=float)
    image = axis.imshow(
        np.ma.masked_invalid(values), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto"
    )
    for (row, column), value in np.ndenumerate(values):
        text = "-" if math.isnan(value) else f"{value:.3f}"
        axis.text(column, row, text, ha="center", va="center", fontsize=8)
    axis.set_xticks(range(columns), matrix.columns, rotation=35, ha="right", fontsize=8)
    axis.set_yticks(range(rows), matrix.index, fontsize=8)
    axis.set_title(f"{metric} (detectors x test sets)", fontsize=9)
    figure.colorbar(image, ax=axis, shrink=0.8)
    figure.savefig(path, dpi=120)
    return path


def log_evaluation(
    loggers: Sequence[Logger],
    table: pd.DataFrame,
    images: Mapping[str, Path],
    parameters: Mapping[str, object],
) -> None:
    """Send the table to the loggers.

    Every logger gets the parameters and the finite numbers as metrics
    (``crosseval/<detector>/<column>/<metric>``); wandb also gets the table as a wandb
    table (``crosseval/table``) and the PNGs as images; TensorBoard the table as text.
    """
    metrics = {}
    for row in table.to_dict(orient="records"):
        where = f"{PREFIX}/{row['detector']}/{column_name(row['test_set'], row['subset'])}"
        for name, value in row.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and math.isfinite(float(value)):
                metrics[f"{where}/{name}"] = float(value)
    for logger in loggers:
        logger.log_hyperparams({PREFIX: dict(parameters)})
        if metrics:
            logger.log_metrics(metrics, step=None if isinstance(logger, WandbLogger) else 0)
        if isinstance(logger, WandbLogger):
            logger.log_table(key=f"{PREFIX}/table", dataframe=loggable_table(table))
            for name, image in images.items():
                logger.log_image(key=f"{PREFIX}/{name}", images=[str(image)])
        elif isinstance(logger, TensorBoardLogger):
            text = table.to_string(index=False, float_format=lambda v: f"{v:.4g}")
            logger.experiment.add_text(f"{PREFIX}/table", f"```\n{text}\n```")
        logger.save()
