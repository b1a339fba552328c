"""The in-process measurements of ``benchmarks/gpu_check.py`` (imported; not a benchmark itself).

Each one builds the project's own module from the composed config, as ``train.py`` does
(``model=fomm data=vox`` brings ``conf/recipe/fomm_vox.yaml``), and times it on
synthetic tensors: data loading is not what is measured here (``data_loading.py`` is).
Training steps run under a real Lightning Trainer, so the precision plugin (autocast,
the fp16 gradient scaler) and the optimizer steps are those of a training run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from fomm.inference import animate
from fomm.nets import build_networks

from bench_timing import best_time, inference_fn, synchronize

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GIB = 1024**3


@dataclass(frozen=True)
class Sizes:
    """What the check runs at: the real sizes on a GPU, tiny ones for ``--quick``."""

    fomm_model: str
    fomm_data: str
    fomm_size: int
    fomm_batch: int
    detector_backbone: str | None  # None: the config's (tf_efficientnet_b4)
    detector_size: int
    detector_train_batch: int
    detector_infer_batch: int
    animation_frames: int
    animation_batch: int
    warmup: int
    steps: int
    compile_backend: str


FULL = Sizes("fomm", "vox", 256, 16, None, 224, 32, 128, 128, 32, 3, 10, "inductor")
# Tiny: seconds on a CPU. torch.compile with the "eager" backend traces the graphs
# (what breaks first) without the minutes of inductor code generation.
QUICK = Sizes("fomm_tiny", "embedded", 64, 2, "test_efficientnet", 64, 4, 8, 8, 4, 1, 1, "eager")
# Lightning's own chatter about a run it cannot know is synthetic.
_QUIET = (".*does not have many workers.*", ".*no `val_dataloader`.*", ".*LeafSpec.*")


def compose_model(overrides: list[str]) -> DictConfig:
    """``cfg.model`` of ``python train.py <overrides>`` (model, data and recipe applied)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides).model


def reset_peak_memory(device: torch.device) -> None:
    """Start counting the peak of allocated device memory afresh."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """The peak of allocated device memory since the last reset (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


class _SameBatch(Dataset):
    """One synthetic batch, served ``length`` times (the loader adds nothing to the step)."""

    def __init__(self, batch: dict[str, torch.Tensor], length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.batch


class _StepTimer(pl.Callback):
    """Wall time from the first step after the warm-up to the end of the last step."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total
        self.started = self.ended = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: D102
        if batch_idx == self.warmup:
            synchronize(pl_module.device)
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: D102
        if batch_idx == self.total - 1:
            synchronize(pl_module.device)
            self.ended = time.perf_counter()


def timed_fit(
    module: pl.LightningModule,
    batch: dict[str, torch.Tensor],
    precision: str,
    device: torch.device,
    sizes: Sizes,
) -> dict[str, Any]:
    """Train ``sizes.warmup + sizes.steps`` steps; items per second of the timed steps."""
    total = sizes.warmup + sizes.steps
    timer = _StepTimer(sizes.warmup, total)
    cuda = device.type == "cuda"
    trainer = pl.Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=[device.index or 0] if cuda else 1,
        precision=precision,
        max_steps=total,
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        benchmark=cuda,
        callbacks=[timer],
    )
    loader = DataLoader(_SameBatch(batch, total), batch_size=None, pin_memory=cuda)
    reset_peak_memory(device)
    with warnings.catch_warnings():
        for message in _QUIET:
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(module, train_dataloaders=loader)
    if timer.ended is None:
        raise RuntimeError(f"training stopped before step {total} (at {trainer.global_step})")
    items = len(next(iter(batch.values()))) * sizes.steps
    return {"value": items / (timer.ended - timer.started), "peak_gib": peak_memory_gib(device)}


def compile_fomm(module: torch.nn.Module, backend: str) -> None:
    """Compile FOMM's networks and perceptual loss in place (state-dict keys unchanged).

    Dynamo's caches are emptied first: each row compiles afresh, and earlier rows'
    graphs cannot exhaust the recompilation limit (past it, Dynamo silently runs eager).
    """
    torch._dynamo.reset()
    module.networks.kp_detector.compile(backend=backend)
    module.networks.generator.compile(backend=backend)
    module.perceptual.compile(backend=backend)


def fomm_overrides(sizes: Sizes) -> list[str]:
    """The config of the FOMM rows: the recipe's model; VGG19 at random (same cost)."""
    return [
        f"model={sizes.fomm_model}",
        f"data={sizes.fomm_data}",
        "model.perceptual_network.pretrained=false",
        "model.log_images_every_n_steps=0",
    ]


def fomm_training(
    sizes: Sizes, device: torch.device, precision: str, compiled: bool
) -> dict[str, Any]:
    """FOMMLitModule's training step: pairs per second and peak memory."""
    torch.manual_seed(0)
    module = hydra.utils.instantiate(compose_model(fomm_overrides(sizes)))
    if compiled:
        compile_fomm(module, sizes.compile_backend)
    shape = (sizes.fomm_batch, 3, sizes.fomm_size, sizes.fomm_size)
    batch = {"source": torch.rand(shape), "driving": torch.rand(shape)}
    return timed_fit(module, batch, precision, device, sizes)


def _detector_overrides(sizes: Sizes, model: str) -> list[str]:
    overrides = [f"model={model}", "model.net.pretrained=false"]
    if sizes.detector_backbone:
        overrides.append(f"model.net.backbone={sizes.detector_backbone}")
    return overrides


def detector_training(sizes: Sizes, device: torch.device, model: str) -> dict[str, Any]:
    """The detector module's training step (BCE, Adam) in bf16-mixed: faces per second."""
    torch.manual_seed(0)
    module = hydra.utils.instantiate(compose_model(_detector_overrides(sizes, model)))
    size, count = sizes.detector_size, sizes.detector_train_batch
    batch = {
        "image": torch.randn(count, 3, size, size),
        "label": (torch.arange(count) % 2).float(),
    }
    return timed_fit(module, batch, "bf16-mixed", device, sizes)


def detector_inference(sizes: Sizes, device: torch.device, model: str) -> dict[str, Any]:
    """The detector network in eval mode, bf16 autocast, channels-last: faces per second.

    Channels-last bf16 is how ``fakedetect.predict`` scores where bf16 is fast.
    """
    torch.manual_seed(0)
    net = hydra.utils.instantiate(compose_model(_detector_overrides(sizes, model)).net)
    net = net.to(device).eval().to(memory_format=torch.channels_last)
    size, count = sizes.detector_size, sizes.detector_infer_batch
    images = torch.randn(count, 3, size, size, device=device)
    reset_peak_memory(device)
    run = inference_fn(net, images.contiguous(memory_format=torch.channels_last), torch.bfloat16)
    seconds = best_time(run, sizes.steps, sizes.warmup, device)
    return {"value": count / seconds, "peak_gib": peak_memory_gib(device)}


def fomm_animation(sizes: Sizes, device: torch.device, dtype: torch.dtype | None) -> dict:
    """``fomm.inference.animate`` of a driving clip (relative motion): frames per second."""
    torch.manual_seed(0)
    params = compose_model(fomm_overrides(sizes)).model_params
    networks = build_networks(params).to(device).eval()
    size = sizes.fomm_size
    source = torch.rand(1, 3, size, size, device=device)
    driving = torch.rand(sizes.animation_frames, 3, size, size, device=device)
    reset_peak_memory(device)

    def run() -> None:
        animate(
            source,
            driving,
            networks.kp_detector,
            networks.generator,
            batch_size=sizes.animation_batch,
            autocast_dtype=dtype,
        )

    seconds = best_time(run, max(1, sizes.steps // 3), 1, device)
    return {"value": sizes.animation_frames / seconds, "peak_gib": peak_memory_gib(device)}
