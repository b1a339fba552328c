"""Where a model runs: the one reading of a ``device`` option, for every layer.

Why one: the animation tools, the face detectors, the detector's scorer and the studies
all take ``device=auto|cpu|cuda|cuda:N``; reading it in one place gives them the same
meaning of ``auto`` and the same message for a GPU that is not there.
"""

from __future__ import annotations

import torch

from datamodules.command_errors import InputError


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a device, explaining an impossible choice.

    ``auto`` (or nothing) is CUDA where a GPU is visible, else the CPU.

    Raises:
        InputError: not a device, or CUDA asked for where no GPU is visible.
    """
    if isinstance(device, torch.device):
        return device
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise InputError(f"device={device} is not a device; use auto, cpu or cuda") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device} but no CUDA GPU is visible; use device=cpu or auto")
    return resolved
