r"""``python -m fakedetect.crosseval``: the cross-dataset table of detectors x test sets.

Examples::

    python -m fakedetect.crosseval +detectors.b4=b4.ckpt +test_sets.celebdf=celebdf_index.csv
    python -m fakedetect.crosseval \\
        '+detectors.icpr_dfdc={checkpoint: EfficientNetAutoAttB4_DFDC.pth}' \\
        '+detectors.icpr_ensemble=[EfficientNetB4_DFDC.pth,EfficientNetAutoAttB4_DFDC.pth]' \\
        +test_sets.ffpp=ffpp_c23.csv +test_sets.dfdc=dfdc.csv logger=csv

Writes ``crosseval.csv``, ``crosseval_videos.csv``, ``crosseval_auc_video.png``,
``reliability/<detector>.png`` and ``summary.json`` into the run folder, and the table to
the logger. Scores are cached in ``cache_dir``: a rerun with one more detector or test set
scores only that one. See docs/crosseval.md.
"""

from __future__ import annotations

import logging

import hydra
import torch
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_user_error
from datamodules.plain import plain_container
from datamodules.training.loggers import configured_loggers  # also ${wandb_offline:}
from fakedetect.crosseval.report import column_name
from fakedetect.crosseval.run import CrossEvaluation, cross_evaluate
from fakedetect.crosseval.scoring import ScoringOptions

log = logging.getLogger(__name__)


def run_crosseval(cfg: DictConfig) -> CrossEvaluation:
    """Build the loggers, evaluate, close the loggers (the Hydra app without Hydra)."""
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    options = ScoringOptions.from_config(cfg)
    with configured_loggers(cfg.get("logger")) as loggers:
        result = cross_evaluate(
            plain_container(cfg.detectors),
            plain_container(cfg.test_sets),
            cfg.output_dir,
            cache_dir=cfg.cache_dir,
            faces=plain_container(cfg.faces),
            options=options,
            max_videos=cfg.max_videos,
            bins=cfg.bins,
            loggers=loggers,
        )
    print_table(result)
    return result


def print_table(result: CrossEvaluation) -> None:
    """The table's main columns on the console, and where everything went."""
    columns = ["auc_video", "auc_frame", "ap_video", "eer_video", "logloss_video", "bacc_video"]
    columns += ["ece_video", "bacc_video_calibrated"]
    shown = result.table.assign(
        test_set=[
            column_name(s, u)
            for s, u in zip(result.table["test_set"], result.table["subset"], strict=True)
        ]
    )[["detector", "test_set", "videos", *columns]]
    shown.columns = [c.replace("_video", "").replace("_calibrated", "_cal") for c in shown.columns]
    print("Cross-dataset evaluation (video level unless named _frame):")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    scored = ", ".join(f"{name} {count}" for name, count in result.scored.items())
    print(f"Videos scored this run (the rest from the cache): {scored or 'none'}")
    print(f"Table: {result.files['table']}\nHeatmap: {result.files['heatmap']}")


@hydra.main(version_base="1.3", config_path="../../conf", config_name="crosseval")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m fakedetect.crosseval +detectors.NAME=W +test_sets.NAME=INDEX [...]``."""
    run_crosseval(cfg)


if __name__ == "__main__":
    main()
