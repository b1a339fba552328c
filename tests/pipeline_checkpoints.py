"""Tiny detector checkpoints in the formats prediction loads, written without training."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch


def write_tiny_checkpoint(path: Path, attention: bool = True, seed: int = 0) -> Path:
    """A Lightning-style ``.ckpt`` of a randomly initialised tiny EfficientNet detector.

    It has what :func:`fakedetect.weights.load_detector` reads from our checkpoints: the
    Lightning version, the network config under ``hyper_parameters.net`` and the
    ``net.``-prefixed state dict.
    """
    torch.manual_seed(seed)
    net_config = {
        "_target_": "fakedetect.nets.EfficientNetAutoAttB4"
        if attention
        else "fakedetect.nets.EfficientNetB4",
        "backbone": "test_efficientnet",
        "pretrained": False,
    }
    net = hydra.utils.instantiate(net_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "pytorch-lightning_version": pl.__version__,
            "hyper_parameters": {"net": net_config},
            "state_dict": {f"net.{name}": value for name, value in net.state_dict().items()},
        },
        path,
    )
    return path


class PickledNote:
    """An arbitrary Python object: only full unpickling (which can run code) restores it."""

    def __init__(self, text: str) -> None:
        self.text = text


def write_pickled_checkpoint(path: Path, attention: bool = True, seed: int = 0) -> Path:
    """:func:`write_tiny_checkpoint` plus an object that ``weights_only=True`` refuses."""
    write_tiny_checkpoint(path, attention, seed)
    content = torch.load(path, weights_only=True)
    content["note"] = PickledNote("written by a training script of someone else")
    torch.save(content, path)
    return path
