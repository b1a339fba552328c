"""16-mixed: the gradient scaler steps every optimizer and is updated once per training step."""

from contextlib import contextmanager

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.plugins.precision import MixedPrecision
from test_fomm_module import Pairs, tiny_kwargs
from torch.utils.data import DataLoader

from datamodules.training.grad_scaler import one_scaler_update
from fomm.module import FOMMLitModule

STEPS = 3


class RecordingScaler:
    """A CUDA-free stand-in for ``torch.amp.GradScaler`` that records what Lightning asks.

    It scales losses by a power of two and grows the scale at every ``update`` (as a real
    scaler does after its growth interval), so a step at another scale than its backward's
    shows, and it unscales and steps as the real one does for fused and plain optimizers.
    """

    def __init__(self) -> None:
        self.scale_value = 2.0**10
        self.updates = 0
        self.backward_scales: list[float] = []
        self.steps: list[tuple[int, float]] = []  # (optimizer id, scale at the step)
        self.unscaled: list[int] = []
        self._unscaled_now: set[int] = set()

    def scale(self, loss):
        self.backward_scales.append(self.scale_value)
        return loss * self.scale_value

    def unscale_(self, optimizer):
        self.unscaled.append(id(optimizer))
        self._unscaled_now.add(id(optimizer))
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    parameter.grad.div_(self.scale_value)

    def step(self, optimizer, *args, **kwargs):
        if id(optimizer) not in self._unscaled_now:  # fused optimizers unscale inside step
            self.unscale_(optimizer)
        self.steps.append((id(optimizer), self.scale_value))
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        self.updates += 1
        self._unscaled_now.clear()
        self.scale_value *= 2.0

    def state_dict(self):
        return {"scale": self.scale_value}

    def load_state_dict(self, state):
        self.scale_value = state["scale"]


class ScaledFullPrecision(MixedPrecision):
    """16-mixed's scaler path with float32 compute.

    Float16 autocast is emulated on CPUs (10x slower here) and changes nothing of what the
    plugin asks the scaler, which is what these tests check.
    """

    @contextmanager
    def forward_context(self):
        yield


def _adversarial_tiny():
    torch.manual_seed(0)
    return FOMMLitModule(**tiny_kwargs(loss_weights={"generator_gan": 1}))


def _fit(module, tmp_path, **trainer_kwargs):
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        max_steps=STEPS,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **trainer_kwargs,
    )
    pairs = torch.utils.data.ConcatDataset([Pairs()] * STEPS)
    trainer.fit(module, DataLoader(pairs, batch_size=2))
    return trainer


def test_each_optimizer_steps_once_and_the_scaler_updates_once_per_step(tmp_path):
    module = _adversarial_tiny()
    scaler = RecordingScaler()
    trainer = _fit(module, tmp_path, plugins=[ScaledFullPrecision("16-mixed", "cpu", scaler)])
    assert trainer.global_step == STEPS
    assert scaler.updates == STEPS
    optimizers = [id(optimizer) for optimizer in trainer.optimizers]
    assert [optimizer for optimizer, _ in scaler.steps] == optimizers * STEPS
    # Every optimizer stepped at the scale its loss was scaled by in that step's backward
    # (two backwards a step: generator and keypoint detector, then discriminator).
    step_scales = [scale for _, scale in scaler.steps]
    assert step_scales == [2.0 ** (10 + step) for step in range(STEPS) for _ in optimizers]
    assert scaler.backward_scales == [2.0 ** (10 + step) for step in range(STEPS) for _ in "gd"]


def test_nothing_stepped_means_no_update():
    class Plugin:
        scaler = RecordingScaler()

    class Trainer:
        precision_plugin = Plugin()

    with one_scaler_update(Trainer()):
        pass
    assert Plugin.scaler.updates == 0
    with pytest.raises(RuntimeError), one_scaler_update(Trainer()):
        Plugin.scaler.update()
        raise RuntimeError("a failed step")
    assert Plugin.scaler.updates == 0
    assert "update" not in vars(Plugin.scaler)  # the method is back


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="16-mixed needs a CUDA device")
def test_real_16_mixed_steps_update_the_scaler_once_per_step(tmp_path, monkeypatch):
    module = _adversarial_tiny()
    updates = []
    original = torch.amp.GradScaler.update

    def counting_update(self, new_scale=None):
        updates.append(float(self.get_scale()))
        return original(self, new_scale)

    monkeypatch.setattr(torch.amp.GradScaler, "update", counting_update)
    trainer = _fit(module, tmp_path, accelerator="gpu", devices=1, precision="16-mixed")
    assert trainer.global_step == STEPS
    assert len(updates) == STEPS
    assert all(torch.isfinite(p).all() for p in module.networks.parameters())
