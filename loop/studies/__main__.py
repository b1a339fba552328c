r"""Run one study: ``python -m loop.studies study=<bitrate|pose|occlusion|robustness>``.

Examples::

    python -m loop.studies study=bitrate fomm.checkpoint=last.ckpt study.bitrate_scale=0.01
    python -m loop.studies study=robustness scorer.checkpoint=best.ckpt \\
        options.videos=data/fomm_fakes/labels.csv study.split=test detector=whole_frame
    python -m loop.studies -m study=occlusion,pose fomm.checkpoint=last.ckpt \\
        options.max_frames=32,64 logger=wandb

The study config (``conf/study/<name>.yaml``) names the study function with ``_target_``
and holds its own settings (``study.*``); what every study shares, the videos, how they
are read and the output folder, is ``options.*`` (:class:`loop.studies.options.StudyOptions`);
its models (``fomm``, ``scorer``) are built from checkpoints by path. Every run (every
job of a multirun) writes into its own folder. See docs/loop.md.
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from datamodules.command_errors import InputError, exit_on_input_error
from datamodules.training.loggers import configured_loggers  # also ${wandb_offline:}
from loop.studies.report import StudyResult

log = logging.getLogger(__name__)


def _unwrap(error: InstantiationException) -> BaseException:
    """The user's mistake inside Hydra's wrapper (a bad path, a missing checkpoint)."""
    cause = error.__cause__
    while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
        cause = cause.__cause__
    return cause if isinstance(cause, InputError) else error


def run_study(cfg: DictConfig) -> StudyResult:
    """Build the configured study's models and loggers, run it, close the loggers.

    Args:
        cfg: the composed ``conf/studies.yaml``.

    Returns:
        What the study function returned: its table and summary.
    """
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    try:
        study = hydra.utils.instantiate(cfg.study, _partial_=True)
    except InstantiationException as error:
        raise _unwrap(error) from error
    with configured_loggers(cfg.get("logger")) as loggers:
        result = study(loggers=loggers)
    _print_summary(result.summary)
    return result


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary['study']} study: {summary['items']} items")
    table.add_column("result")
    table.add_column("value", justify="right")
    for name, value in summary["results"].items():
        table.add_row(name, "n/a" if value is None else f"{value:.4g}")
    console = Console()
    console.print(table)
    for note in summary["notes"]:
        console.print(f"note: {note}")
    if summary["skipped"]:
        console.print(f"skipped {len(summary['skipped'])} items (listed in summary.json)")
    console.print(f"outputs in {summary['output_dir']}")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="studies")
@exit_on_input_error
def main(cfg: DictConfig) -> None:
    """``python -m loop.studies study=<name> [key=value ...]``."""
    run_study(cfg)


if __name__ == "__main__":
    main()
