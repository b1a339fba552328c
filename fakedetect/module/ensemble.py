"""Testing several detectors at once: their logits averaged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datamodules.plain import plain_container
from fakedetect.module.base import DetectorModuleBase
from fakedetect.nets import LogitEnsemble
from fakedetect.weights import load_detector


class EnsembleDetectorModule(DetectorModuleBase):
    """Test (or predict with) several trained detectors at once, averaging their logits.

    Args:
        members: one mapping per detector: ``path`` (our ``.ckpt`` or the
            paper's ``.pth``) and, for the paper's weights, ``architecture``
            (null infers it).
        monitor: kept for the config contract; an ensemble is not trained.
        monitor_mode: likewise.
        trust_checkpoint: allow member files that need full unpickling (they can run
            code); the paper's weights and our checkpoints do not need it.
    """

    def __init__(
        self,
        members: Sequence[Mapping[str, Any]],
        monitor: str = "val/loss",
        monitor_mode: str = "min",
        trust_checkpoint: bool = False,
    ) -> None:
        members = plain_container(members)
        if not members or any("path" not in member for member in members):
            raise ValueError(
                "model.members must list the detectors, each with a path: "
                "[{path: a.ckpt}, {path: b.pth, architecture: EfficientNetAutoAttB4}]"
            )
        nets = [
            load_detector(member["path"], member.get("architecture"), trust_checkpoint)
            for member in members
        ]
        super().__init__(LogitEnsemble(nets), monitor, monitor_mode)
        self.save_hyperparameters(logger=False)

    def setup(self, stage: str) -> None:
        """Refuse to train: the members are trained separately."""
        if stage == "fit":
            _refuse_training()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Refuse to train (Lightning wants the hook to exist before :meth:`setup` refuses)."""
        _refuse_training()

    def configure_optimizers(self) -> None:
        """Refuse to train (as :meth:`training_step`)."""
        _refuse_training()


def _refuse_training() -> None:
    raise RuntimeError(
        "The ensemble only tests or predicts; run `python train.py model=ensemble train=false "
        "model.members=[...]`."
    )
