"""One dashboard for a whole loop: every stage logs to the loop's loggers, in one wandb group.

The loop composes its own ``logger`` group (``conf/loop.yaml``, wandb and CSV by default;
``logger=csv``, ``logger=many``, ``logger=null`` for none) and gives that same logger
config to every stage, so the FOMM run, the detector run, the four study runs and the
loop's own ``report`` run land side by side: in wandb they share a group
(``dashboard.group``, by default ``loop-<output folder name>``, so a resumed loop keeps its
group), each run named and typed by its stage. The ``report`` run carries the headline
numbers, a table of them, the report's plots and the sample animation. Each stage's
logger files stay in its own folder (``<stage>/wandb/``, ``<stage>/csv/``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from datamodules.training.loggers import configured_loggers

log = logging.getLogger(__name__)

_PLOT_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+\.png)\)")


def _is_wandb(entry: Any) -> bool:
    return isinstance(entry, Mapping) and str(entry.get("_target_", "")).endswith("WandbLogger")


@dataclass
class LoopDashboard:
    """The loop's logger config and the wandb group its stages share.

    Attributes:
        logger: the loop's composed ``logger`` group, unresolved (its ``${paths.output_dir}``
            resolves in each stage's config to that stage's folder); empty for no loggers.
        group: the wandb group of every run of this loop.
    """

    logger: dict[str, Any]
    group: str

    @classmethod
    def from_config(cls, cfg: DictConfig, output_dir: Path) -> LoopDashboard:
        """The dashboard of the loop composed in ``cfg`` writing into ``output_dir``."""
        logger = cfg.get("logger")
        entries = OmegaConf.to_container(logger, resolve=False) if logger else {}
        dashboard = cfg.get("dashboard") or {}
        group = dashboard.get("group") or f"loop-{Path(output_dir).name}"
        return cls(logger=entries, group=str(group))

    def _loggers_of(self, run: str) -> dict[str, Any]:
        """The logger entries for one run of the loop, wandb ones named and grouped."""
        entries = OmegaConf.create(self.logger)
        for entry in entries.values():
            if _is_wandb(entry):
                entry.group = self.group
                entry.name = run
                entry.job_type = run
        return OmegaConf.to_container(entries, resolve=False)

    def stage(self, cfg: DictConfig, name: str) -> DictConfig:
        """A stage's composed config, with the loop's loggers in place of its own.

        Args:
            cfg: the stage's ``train`` or ``studies`` config as its command composes it.
            name: the stage's name (the wandb run name and job type).
        """
        with open_dict(cfg):
            cfg.logger = self._loggers_of(name)
        return cfg

    def log_report(
        self,
        out: Path,
        metrics: Mapping[str, Any],
        report: Path,
        animation: Mapping[str, Any] | None,
        tags: list[str] | None = None,
    ) -> None:
        """Log the loop's own run: headline numbers, their table, the report's plots, the sample.

        Loggers without images or video (CSV) get the numbers only: the plots and the
        animation are files of the report folder already.

        Args:
            out: the loop's output folder (the report run's logger files go there).
            metrics: what ``metrics.json`` holds.
            report: ``report.md``, whose linked PNG plots are logged.
            animation: what ``loop.report.sample_animation`` returned, or None.
            tags: the runs' wandb tags.
        """
        if not self.logger:
            return
        cfg = OmegaConf.create(
            {
                "paths": {"output_dir": str(out)},
                "task_name": "loop",
                "tags": list(tags or ["loop"]),
                "logger": self._loggers_of("report"),
            }
        )
        numbers = headline_scalars(metrics)
        plots = [out / link for link in _PLOT_LINK.findall(report.read_text())]
        video = out / animation["side_by_side"] if animation else None
        with configured_loggers(cfg.logger) as loggers:
            for logger in loggers:
                _log_to(logger, numbers, plots, video)
        log.info("Dashboard: every run of this loop is in wandb group %s", self.group)


def headline_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics.json`` as ``loop/<name>`` (stage times as ``seconds/``)."""
    numbers: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, Mapping):
            for inner, number in value.items():
                numbers[f"loop/{name}/{inner}"] = number
        else:
            numbers[f"loop/{name}"] = value
    return {
        name: float(value)
        for name, value in numbers.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _log_to(logger: Any, numbers: dict[str, float], plots: list[Path], video: Path | None) -> None:
    """Send the report run's content to one logger, as far as it takes it."""
    kind = type(logger).__name__
    logger.log_metrics(numbers, step=0)
    if kind == "WandbLogger":
        rows = [[name.removeprefix("loop/"), value] for name, value in numbers.items()]
        logger.log_table(key="loop/headline", columns=["number", "value"], data=rows, step=0)
        for plot in plots:
            if plot.is_file():
                key = f"report/{plot.parent.name}/{plot.stem}"
                logger.log_image(key=key, images=[str(plot)], step=0)
        if video is not None and video.is_file():
            logger.log_video(key="report/sample_animation", videos=[str(video)], step=0)
    elif kind == "TensorBoardLogger":
        import cv2
        import torch

        for plot in plots:
            if plot.is_file():
                pixels = cv2.cvtColor(cv2.imread(str(plot)), cv2.COLOR_BGR2RGB)
                image = torch.from_numpy(pixels).permute(2, 0, 1)
                logger.experiment.add_image(f"report/{plot.parent.name}/{plot.stem}", image, 0)
    logger.save()
