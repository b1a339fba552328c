"""A callback the DDP tests add through the config: each process's weights before and after fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch


class WeightSums(pl.Callback):
    """Write, per process, the sum of absolute weights of each network before and after fit.

    Networks are the LightningModule's parameters grouped by their first two name parts
    (``networks.generator``, ``net.feature_extractor``). Equal sums on every process
    mean the gradients were averaged; a changed sum means the network learnt.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.before: dict[str, float] = {}

    @staticmethod
    def _sums(module: pl.LightningModule) -> dict[str, float]:
        sums: dict[str, float] = {}
        for name, parameter in module.named_parameters():
            network = ".".join(name.split(".")[:2])
            sums[network] = sums.get(network, 0.0) + parameter.detach().double().abs().sum().item()
        return sums

    def on_train_start(self, trainer, pl_module):
        self.before = self._sums(pl_module)

    def on_train_end(self, trainer, pl_module):
        record = {"before": self.before, "after": self._sums(pl_module)}
        everyone = [record]
        if trainer.world_size > 1:
            everyone = [None] * trainer.world_size
            torch.distributed.all_gather_object(everyone, record)
        if trainer.is_global_zero:
            self.path.write_text(json.dumps(everyone))


def weight_sums_overrides(path: Path) -> list[str]:
    """The config overrides that add :class:`WeightSums` writing to ``path``."""
    return [
        "+callbacks.weight_sums._target_=ddp_recorders.WeightSums",
        f"+callbacks.weight_sums.path={path}",
    ]


def read_weight_sums(path: Path) -> list[dict[str, dict[str, float]]]:
    """Each process's ``{"before": {network: sum}, "after": {...}}``, rank 0 first."""
    return json.loads(Path(path).read_text())
