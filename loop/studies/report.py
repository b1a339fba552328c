"""What every study writes: a resumable per-item table, per-setting summaries, plots, loggers.

A study's output folder holds

- ``<study>.csv``: one row per item x setting (a video at a bitrate, a source/driving pair
  with an initialisation, a frame, a video under a perturbation), appended as each item
  finishes, so a killed run loses at most the item in progress;
- ``<study>_parameters.json``: the settings of that table; a rerun into the same folder
  with the same settings skips the finished items, with other settings it refuses;
- ``<study>_summary.csv``: the per-setting aggregates;
- ``<study>*.png``: the plots;
- ``summary.json``: the headline numbers (finite, or null with the reason beside them),
  the items skipped and why, notes on how to read the numbers, and the run time.

The same per-setting numbers, tables and plots go to the configured Lightning loggers.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pytorch_lightning.loggers import Logger, TensorBoardLogger, WandbLogger
from scipy import stats
from tqdm.auto import tqdm

from datamodules.command_errors import InputError
from datamodules.training.loggers import loggable_table

log = logging.getLogger(__name__)


class StudyResult(NamedTuple):
    """What a study returns: its per-item table and the summary written to ``summary.json``."""

    table: pd.DataFrame
    summary: dict[str, Any]


def json_ready(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN and inf to None, paths to strings."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def correlations(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation and a least-squares line, over the finite pairs.

    Returns:
        ``n``, ``pearson``, ``pearson_p``, ``spearman``, ``spearman_p``, ``slope``,
        ``intercept``; NaN where undefined (fewer than 3 pairs, or a constant variable).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = dict.fromkeys(
        ("pearson", "pearson_p", "spearman", "spearman_p", "slope", "intercept"), math.nan
    )
    out["n"] = int(len(x))
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    out.update(
        pearson=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
        slope=float(slope),
        intercept=float(intercept),
    )
    return out


def binned_means(
    x: Sequence[float], y: Mapping[str, Sequence[float]], num_bins: int, quantiles: bool = True
) -> pd.DataFrame:
    """Means of ``y`` columns over bins of ``x`` (equal-count bins by default).

    Returns:
        One row per non-empty bin: ``bin``, ``x_low``, ``x_high``, ``x_mean``, ``count``,
        and ``<name>_mean``, ``<name>_std`` for every ``y`` column.
    """
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    columns = ["bin", "x_low", "x_high", "x_mean", "count"]
    columns += [f"{name}_{s}" for name in y for s in ("mean", "std")]
    if not finite.any():
        return pd.DataFrame(columns=columns)
    values = x[finite]
    if quantiles:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, num_bins + 1)))
    else:
        edges = np.linspace(values.min(), values.max(), num_bins + 1)
    if len(edges) < 2:
        edges = np.array([values.min(), values.max()])
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for number in range(len(edges) - 1):
        member = finite & (which == number)
        if not member.any():
            continue
        row = {
            "bin": number,
            "x_low": float(edges[number]),
            "x_high": float(edges[number + 1]),
            "x_mean": float(x[member].mean()),
            "count": int(member.sum()),
        }
        for name, values_y in y.items():
            chosen = np.asarray(values_y, dtype=np.float64)[member]
            chosen = chosen[np.isfinite(chosen)]
            row[f"{name}_mean"] = float(chosen.mean()) if len(chosen) else math.nan
            row[f"{name}_std"] = float(chosen.std()) if len(chosen) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def short_number(value: float) -> str:
    """A compact label: 110000 -> ``110k``, 2000000 -> ``2M``, 0.25 -> ``0.25``."""
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def new_figure(panels: int, columns: int = 3, size: float = 3.6) -> tuple[Figure, list[Any]]:
    """A figure with ``panels`` axes in a grid, drawn with Agg (no display, no pyplot state)."""
    columns = max(1, min(columns, panels))
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(size * 1.25 * columns, size * rows), layout="constrained")
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(panels)]
    return figure, axes


class StudyReport:
    """The output folder of one study run: resumable table, summaries, plots and loggers.

    Args:
        study: the study's name (file names and logger keys).
        output_dir: the folder to write.
        parameters: the settings that define the table (plain values); a folder holding a
            table made with other settings is refused unless ``overwrite``.
        columns: the table's columns, in order.
        unit_column: the column naming an item; finished items are skipped on a rerun.
        text_columns: columns read back as text (ids that could look like numbers).
        overwrite: delete an earlier table in the folder and start over.
    """

    def __init__(
        self,
        study: str,
        output_dir: str | os.PathLike,
        parameters: Mapping[str, Any],
        columns: Sequence[str],
        unit_column: str,
        text_columns: Iterable[str] = (),
        overwrite: bool = False,
    ) -> None:
        self.study = study
        self.started = time.perf_counter()
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.columns = list(columns)
        self.unit_column = unit_column
        self.parameters = json.loads(json.dumps(json_ready(dict(parameters))))
        self.table_path = self.output_dir / f"{study}.csv"
        self.parameters_path = self.output_dir / f"{study}_parameters.json"
        self.skipped: list[dict[str, str]] = []
        self.notes: list[str] = []
        self.figures: dict[str, tuple[Path, Figure]] = {}
        if overwrite:
            self.table_path.unlink(missing_ok=True)
        self._rows = self._resume(set(text_columns) | {unit_column})
        self.parameters_path.write_text(json.dumps(self.parameters, indent=2))
        self.resumed = len(self.done)
        if self.resumed:
            log.info("%s: %d items already done in %s", study, self.resumed, self.table_path)

    def _resume(self, text_columns: set[str]) -> pd.DataFrame:
        if not self.table_path.is_file() or self.table_path.stat().st_size == 0:
            return pd.DataFrame(columns=self.columns)
        earlier = (
            json.loads(self.parameters_path.read_text()) if self.parameters_path.is_file() else None
        )
        if earlier != self.parameters:
            changed = sorted(
                key
                for key in set(self.parameters) | set(earlier or {})
                if (earlier or {}).get(key) != self.parameters.get(key)
            )
            raise InputError(
                f"{self.table_path} was made with other settings ({', '.join(changed) or 'unknown'}"
                "); write to another output_dir, or pass overwrite=true to start over"
            )
        table = pd.read_csv(self.table_path, dtype={c: str for c in text_columns})
        return table.reindex(columns=self.columns)

    @property
    def done(self) -> set[str]:
        """The items already in the table (from this run or an earlier one)."""
        return set(self._rows[self.unit_column].astype(str))

    @property
    def table(self) -> pd.DataFrame:
        """Every row so far."""
        return self._rows.reset_index(drop=True)

    def pending(self, videos: pd.DataFrame, progress: bool = True) -> Iterator[pd.Series]:
        """The rows of ``videos`` whose ``video`` is not done yet, under a progress bar.

        Each row's ``name`` is its index label in ``videos``.
        """
        todo = videos[~videos["video"].astype(str).isin(self.done)]
        yield from (
            row
            for _, row in tqdm(
                todo.iterrows(),
                total=len(todo),
                desc=f"{self.study} study",
                unit="video",
                disable=not progress,
            )
        )

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append one item's rows to the table on disk (as one write)."""
        frame = pd.DataFrame(list(rows)).reindex(columns=self.columns)
        header = not self.table_path.is_file() or self.table_path.stat().st_size == 0
        frame.to_csv(self.table_path, mode="a", header=header, index=False)
        self._rows = frame if self._rows.empty else pd.concat([self._rows, frame])

    def skip(self, unit: str, reason: str) -> None:
        """Record an item that could not be studied (named in ``summary.json``)."""
        log.warning("%s: skipping %s: %s", self.study, unit, reason)
        self.skipped.append({"item": unit, "reason": reason})

    def note(self, text: str) -> None:
        """Add a remark on how to read the results (written to ``summary.json``)."""
        if text not in self.notes:
            log.info("%s: %s", self.study, text)
            self.notes.append(text)

    def save_figure(self, name: str, figure: Figure) -> Path:
        """Write ``<output_dir>/<name>.png`` and keep the figure for the loggers."""
        path = self.output_dir / f"{name}.png"
        figure.savefig(path, dpi=120)
        self.figures[name] = (path, figure)
        return path

    def finish(
        self,
        by_setting: pd.DataFrame,
        results: Mapping[str, float],
        reasons: Mapping[str, str] | None = None,
        group_column: str | None = None,
        extra: Mapping[str, Any] | None = None,
        loggers: Sequence[Logger] = (),
    ) -> StudyResult:
        """Write the per-setting table and ``summary.json``, log everything, return the result.

        Args:
            by_setting: one row per setting (written as ``<study>_summary.csv``).
            results: the headline numbers; non-finite ones become null in the JSON.
            reasons: why a number may be null (kept only for those that are).
            group_column: a text column of ``by_setting`` whose values prefix the logged
                keys (one curve per group, e.g. per perturbation).
            extra: more JSON-ready entries for ``summary.json`` (e.g. correlations).
            loggers: Lightning loggers to send the numbers, tables and plots to.
        """
        by_setting.to_csv(self.output_dir / f"{self.study}_summary.csv", index=False)
        values = {name: json_ready(float(value)) for name, value in results.items()}
        why = {
            name: (reasons or {}).get(name, "not computable from these data")
            for name, value in values.items()
            if value is None
        }
        summary = {
            "study": self.study,
            "output_dir": str(self.output_dir),
            "items": int(len(self.done)),
            "items_resumed": int(self.resumed),
            "rows": int(len(self._rows)),
            "results": values,
            "null_reasons": why,
            **json_ready(dict(extra or {})),
            "skipped": self.skipped,
            "notes": self.notes,
            "parameters": self.parameters,
            "seconds": round(time.perf_counter() - self.started, 2),
            "files": sorted(p.name for p in self.output_dir.glob(f"{self.study}*")),
        }
        (self.output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        log_to_loggers(
            loggers, self.study, by_setting, summary, self.table, self.figures, group_column
        )
        if self.skipped:
            log.warning(
                "%s: %d items skipped (see summary.json): %s",
                self.study,
                len(self.skipped),
                ", ".join(s["item"] for s in self.skipped[:5]),
            )
        log.info("%s: results in %s", self.study, self.output_dir)
        return StudyResult(self.table, summary)


def _setting_metrics(
    study: str, row: Mapping[str, Any], group_column: str | None
) -> dict[str, float]:
    prefix = f"{study}/{row[group_column]}" if group_column else study
    metrics = {}
    for name, value in row.items():
        if name == group_column or isinstance(value, str | bool) or value is None:
            continue
        if isinstance(value, int | float | np.number) and math.isfinite(float(value)):
            metrics[f"{prefix}/{name}"] = float(value)
    return metrics


def log_to_loggers(
    loggers: Sequence[Logger],
    study: str,
    by_setting: pd.DataFrame,
    summary: Mapping[str, Any],
    table: pd.DataFrame,
    figures: Mapping[str, tuple[Path, Figure]],
    group_column: str | None = None,
) -> None:
    """Send a study's numbers to Lightning loggers.

    Every logger gets the parameters, one metrics row per setting (the setting's numeric
    values as columns beside the measures, keys ``<study>[/<group>]/<column>``) and the
    finite headline numbers (``<study>/summary/<name>``). Wandb also gets both tables
    and the plots as images; TensorBoard the plots as figures and the per-setting table
    as text. Rows go to Wandb without an explicit step (its step must only grow, and a
    training run may already be past any step a study would pick); the others count
    settings from 0.
    """
    records = by_setting.to_dict(orient="records")
    headline = {
        f"{study}/summary/{name}": float(value)
        for name, value in summary["results"].items()
        if value is not None
    }
    for logger in loggers:
        logger.log_hyperparams({study: summary["parameters"]})
        wandb = isinstance(logger, WandbLogger)
        for step, row in enumerate(records):
            metrics = _setting_metrics(study, row, group_column)
            if metrics:
                logger.log_metrics(metrics, step=None if wandb else step)
        if headline:
            logger.log_metrics(headline, step=None if wandb else len(records))
        if wandb:
            logger.log_table(key=f"{study}/table", dataframe=loggable_table(table))
            logger.log_table(key=f"{study}/by_setting", dataframe=loggable_table(by_setting))
            for name, (path, _) in figures.items():
                logger.log_image(key=f"{study}/{name}", images=[str(path)])
        elif isinstance(logger, TensorBoardLogger):
            for name, (_, figure) in figures.items():
                logger.experiment.add_figure(f"{study}/{name}", figure, close=False)
            text = by_setting.to_string(index=False, float_format=lambda v: f"{v:.4g}")
            logger.experiment.add_text(f"{study}/by_setting", f"```\n{text}\n```")
        logger.save()
