"""VGG19 features up to relu5_1 for the perceptual loss, with honest weight loading.

The paper's loss uses ImageNet VGG19 weights. They come, in this order, from a local file
named in the config (``weights_path``), or from torchvision's download (cached under
``$TORCH_HOME/hub/checkpoints``); if neither works the error says how to fix it. With
``pretrained: false`` the network is randomly initialised from a fixed seed: still a
multi-scale feature loss, and deterministic, but not the paper's loss.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

# Indices of torchvision's vgg19().features that end at relu1_1, relu2_1, ..., relu5_1.
_SLICE_ENDS = (2, 7, 12, 21, 30)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_INIT_SEED = 0


def _vgg19_features() -> nn.Sequential:
    from torchvision.models import vgg19

    return vgg19(weights=None).features[: _SLICE_ENDS[-1]]


def _load_features_state(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG19 weights file {path} does not exist; set perceptual_network.weights_path to "
            "torchvision's vgg19-dcbb9e9d.pth (or a state dict of vgg19().features)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} is not a loadable VGG19 state dict ({error}); use torchvision's "
            "vgg19-dcbb9e9d.pth"
        ) from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a VGG19 state dict")
    if any(k.startswith("features.") for k in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return {
        k: v
        for k, v in state.items()
        if k.split(".")[0].isdigit() and int(k.split(".")[0]) < _SLICE_ENDS[-1]
    }


def _download_state() -> dict[str, Tensor]:
    from torchvision.models import VGG19_Weights

    weights = VGG19_Weights.IMAGENET1K_V1
    try:
        state = weights.get_state_dict(progress=False)
    except Exception as error:
        raise RuntimeError(
            "The perceptual loss needs ImageNet VGG19 weights, and downloading them from "
            f"{weights.url} failed ({type(error).__name__}: {error}). Fix: download that file "
            "elsewhere and set model.perceptual_network.weights_path=/path/to/vgg19-dcbb9e9d.pth "
            "(or put it in $TORCH_HOME/hub/checkpoints/), or set "
            "model.perceptual_network.pretrained=false for a randomly initialised VGG19 "
            "(a weaker loss than the paper's)."
        ) from error
    return {
        k[len("features.") :]: v
        for k, v in state.items()
        if k.startswith("features.") and int(k.split(".")[1]) < _SLICE_ENDS[-1]
    }


class Vgg19Features(nn.Module):
    """ImageNet-normalised VGG19 activations relu1_1 ... relu5_1, frozen.

    Args:
        pretrained: load ImageNet weights (see the module docstring for where from).
        weights_path: a local torchvision VGG19 state dict; takes precedence.
        num_slices: compute only the first n of the five activations (the loss with
            fewer layer weights needs no more, and the deep ones cost the most).
    """

    def __init__(
        self, pretrained: bool = True, weights_path: str | None = None, num_slices: int = 5
    ) -> None:
        super().__init__()
        if not 1 <= num_slices <= len(_SLICE_ENDS):
            raise ValueError(f"num_slices must be in 1..5, got {num_slices}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            features = _vgg19_features()
        if weights_path:
            features.load_state_dict(_load_features_state(Path(weights_path)))
        elif pretrained:
            features.load_state_dict(_download_state())
        self.pretrained = bool(weights_path) or pretrained
        starts = (0, *_SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(
            features[start:end]
            for start, end in zip(starts, _SLICE_ENDS[:num_slices], strict=False)
        )
        self.register_buffer(
            "mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # Frozen; VGG19's features have no batch norm or dropout, so train/eval mode is moot.
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Return the activations of the first ``num_slices`` stages for images in [0, 1]."""
        out = (x - self.mean) / self.std
        activations = []
        for stage in self.slices:
            out = stage(out)
            activations.append(out)
        return activations
