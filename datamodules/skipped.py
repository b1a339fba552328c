"""Skip unreadable items without losing track of them.

A corrupt video must not stop a week-long run, and it must not vanish silently
either. Datasets call :func:`warn_skip` (one warning per file and process) and
put the message in the sample's ``skipped`` list; :func:`collate_with_skipped`
gathers those lists across the batch, which works with DataLoader worker
processes where a shared counter would not; :class:`SkippedItemsReport` counts
them in the main process, logs ``data/skipped_<stage>`` and prints the files at
the end of every epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import default_collate

log = logging.getLogger(__name__)

SKIPPED_KEY = "skipped"
_warned: set[str] = set()


def warn_skip(path: Any, reason: str) -> str:
    """Warn once per file that it is skipped and return the message for the batch.

    Args:
        path: the file that could not be used.
        reason: what was wrong with it, and where useful how to fix it.

    Returns:
        ``"<path>: <reason>"``, to be appended to the sample's ``skipped`` list.
    """
    message = f"{path}: {reason}"
    if message not in _warned:
        _warned.add(message)
        log.warning("Skipping %s", message)
    return message


def collate_with_skipped(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate dict samples with ``default_collate``, concatenating their ``skipped`` lists.

    Samples that are None (an item that had nothing usable) are dropped here and
    must already have been reported by the dataset.
    """
    skipped: list[str] = []
    kept = []
    for sample in samples:
        if sample is None:
            continue
        skipped.extend(sample.get(SKIPPED_KEY, ()))
        kept.append({k: v for k, v in sample.items() if k != SKIPPED_KEY})
    batch = default_collate(kept) if kept else {}
    batch[SKIPPED_KEY] = skipped
    return batch


class SkippedItemsReport(pl.Callback):
    """Count the items the data layer skipped and report them at every epoch end.

    Args:
        max_listed: how many distinct files to name in the end-of-epoch message.
    """

    def __init__(self, max_listed: int = 20) -> None:
        self.max_listed = max_listed
        self._seen: dict[str, list[str]] = {"train": [], "val": [], "test": [], "predict": []}

    def _collect(self, stage: str, batch: Any) -> None:
        if isinstance(batch, dict):
            self._seen[stage].extend(batch.get(SKIPPED_KEY, ()))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        self._collect("train", batch)

    def on_validation_batch_end(  # noqa: D102
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._collect("val", batch)

    def on_test_batch_end(  # noqa: D102
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._collect("test", batch)

    def _report(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        items = self._seen[stage]
        if trainer.sanity_checking:
            items.clear()
            return
        if stage != "predict":
            pl_module.log(
                f"data/skipped_{stage}", float(len(items)), reduce_fx="sum", sync_dist=True
            )
        if items:
            distinct = sorted(set(items))
            listed = "\n  ".join(distinct[: self.max_listed])
            more = len(distinct) - self.max_listed
            tail = f"\n  ... and {more} more" if more > 0 else ""
            rank_zero_warn(
                f"{stage} epoch {trainer.current_epoch}: skipped {len(items)} unreadable "
                f"item(s) from {len(distinct)} file(s):\n  {listed}{tail}"
            )
        items.clear()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        self._report(trainer, pl_module, "train")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        self._report(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer, pl_module) -> None:  # noqa: D102
        self._report(trainer, pl_module, "test")
