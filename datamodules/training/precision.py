"""Which numeric precision this hardware runs natively, and what that means for bf16.

bfloat16 is a speed-up only where the hardware computes in it: CPUs with AMX tiles or
AVX512-BF16 instructions, and NVIDIA GPUs of compute capability 8.0 (Ampere) and later.
Elsewhere PyTorch emulates it: on an AVX2-only CPU the vox-256 FOMM training step took
190 s in bf16 autocast against 11.8 s in fp32 (16x slower). This module probes the
hardware once and gives:

- :func:`native_bf16`: whether bf16 is native on a device (what ``precision: auto`` and
  the bf16 warning of ``train.py`` go by);
- :func:`bf16_is_fast`: whether bf16 autocast is a clear win for inference convolutions
  (AMX tiles or an Ampere+ GPU), what the face detector and the scorer's ``auto`` use;
- :func:`auto_precision`, registered as the OmegaConf resolver ``${auto_precision:}``:
  a trainer config's ``precision: ${auto_precision:}`` becomes ``bf16-mixed`` where bf16
  is native on its accelerator and ``32-true`` elsewhere;
- :func:`warn_if_bf16_is_emulated`: one warning when a run asks for bf16 on hardware
  that emulates it;
- :func:`hardware_banner`: the line every benchmark prints first, so a number is never
  read without the hardware path that produced it.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from pytorch_lightning.utilities import rank_zero_warn

# The measurement behind the warning (benchmarks/fomm_step.py, vox-256, batch 2, 256 px).
EMULATED_BF16_MEASUREMENT = (
    "on an AVX2-only CPU the vox-256 FOMM training step took 190 s in bf16 autocast "
    "against 11.8 s in fp32 (16x slower)"
)
BF16_PRECISIONS = ("bf16-mixed", "bf16-true", "bf16")
_warned: set[str] = set()


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU offers for reduced precision.

    Attributes:
        model: the CPU's model name.
        capability: PyTorch's dispatch level (``DEFAULT``, ``AVX2``, ``AVX512``...).
        amx_bf16: AMX tiles with bf16 (Sapphire Rapids and later Xeons).
        avx512_bf16: AVX512 bf16 dot products (Cooper Lake, Zen 4 and later).
    """

    model: str
    capability: str
    amx_bf16: bool
    avx512_bf16: bool

    @property
    def native_bf16(self) -> bool:
        """bf16 arithmetic in hardware (either instruction set)."""
        return self.amx_bf16 or self.avx512_bf16

    @property
    def widest_path(self) -> str:
        """The fastest matrix path: AMX, AVX512 or PyTorch's capability level."""
        return "AMX" if self.amx_bf16 else self.capability


def _cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, set[str]]:
    """The model name and the flags of the first CPU in ``/proc/cpuinfo`` (Linux)."""
    model, flags = "", set()
    try:
        text = path.read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
        if model and flags:
            break
    return model, flags


@functools.cache
def cpu_features() -> CpuFeatures:
    """Probe the CPU once: ``/proc/cpuinfo`` flags, else PyTorch's own probes (other OSes)."""
    model, flags = _cpuinfo()
    if flags:
        amx = "amx_bf16" in flags
        avx512_bf16 = "avx512_bf16" in flags
    else:
        amx = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
        avx512_bf16 = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return CpuFeatures(
        model=model or platform.processor() or platform.machine() or "unknown CPU",
        capability=torch.backends.cpu.get_cpu_capability(),
        amx_bf16=amx,
        avx512_bf16=avx512_bf16,
    )


def _cuda_capability(device: torch.device) -> tuple[int, int] | None:
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(device)


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bf16 natively (so bf16 is not a slowdown there).

    CUDA: compute capability 8.0 or later (``torch.cuda.is_bf16_supported`` also says yes
    for older GPUs, where it emulates). CPU: AMX or AVX512-BF16. Others: no.
    """
    device = torch.device(device)
    if device.type == "cuda":
        capability = _cuda_capability(device)
        return capability is not None and capability >= (8, 0)
    if device.type == "cpu":
        return cpu_features().native_bf16
    return False


def bf16_is_fast(device: torch.device | str) -> bool:
    """Whether bf16 autocast clearly speeds inference convolutions up on ``device``.

    Why stricter than :func:`native_bf16`: the ``auto`` of the face detector and the scorer
    was chosen from measurements on AMX CPUs (several times faster in bf16); CPUs with
    AVX512-BF16 alone keep fp32 there until measured.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return cpu_features().amx_bf16
    return native_bf16(device)


def _accelerator_device(accelerator: str | None) -> torch.device | None:
    """The device a Lightning ``accelerator`` flag trains on (its first one)."""
    accelerator = (accelerator or "auto").lower()
    if accelerator == "auto":
        accelerator = "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda"):
        return torch.device("cuda", 0) if torch.cuda.is_available() else None
    if accelerator == "cpu":
        return torch.device("cpu")
    return None


def auto_precision(accelerator: str | None = None, *, _parent_: Any = None) -> str:
    """``bf16-mixed`` where bf16 is native on the accelerator, else ``32-true``.

    As the resolver ``${auto_precision:}`` inside a trainer config it reads that config's
    ``accelerator``; ``${auto_precision:gpu}`` names the accelerator instead.
    """
    if accelerator is None and _parent_ is not None:
        accelerator = _parent_.get("accelerator")
    device = _accelerator_device(accelerator)
    return "bf16-mixed" if device is not None and native_bf16(device) else "32-true"


OmegaConf.register_new_resolver("auto_precision", auto_precision, replace=True)


def warn_if_bf16_is_emulated(precision: str | int | None, device: torch.device | str) -> bool:
    """Warn once per process (rank zero) when bf16 is asked for where the hardware emulates it.

    Args:
        precision: the Trainer's precision (``bf16-mixed``, ``32-true``...).
        device: the device training runs on.

    Returns:
        Whether the run asks for emulated bf16 (warned now or before).
    """
    device = torch.device(device)
    if str(precision) not in BF16_PRECISIONS or native_bf16(device):
        return False
    if device.type == "cpu":
        features = cpu_features()
        where = (
            f"this CPU ({features.model}, {features.widest_path}) has neither AMX nor AVX512-BF16"
        )
    else:
        where = f"this {device.type} device has no native bf16 (CUDA needs compute capability 8.0+)"
    message = (
        f"precision={precision}: {where}, so PyTorch emulates bf16 and training runs much "
        f"slower than in fp32 ({EMULATED_BF16_MEASUREMENT}). Use trainer.precision=32, or "
        "trainer.precision='${auto_precision:}' to pick bf16 only where it is native."
    )
    if message not in _warned:
        _warned.add(message)
        rank_zero_warn(message)
    return True


def hardware_banner(device: torch.device | str = "cpu") -> str:
    """One line naming the hardware path a benchmark runs on.

    CPU model, its widest path (AVX2 / AVX512 / AMX), whether bf16 is native, the torch
    thread count, and the device (with the GPU's name and compute capability on CUDA).
    """
    device = torch.device(device)
    features = cpu_features()
    line = (
        f"hardware: cpu={features.model} | path={features.widest_path} | "
        f"native bf16 cpu={'yes' if features.native_bf16 else 'no'} | "
        f"torch threads={torch.get_num_threads()} | device={device}"
    )
    if device.type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        line += (
            f" ({torch.cuda.get_device_name(device)}, sm_{major}{minor}, "
            f"native bf16 {'yes' if native_bf16(device) else 'no'})"
        )
    return line
