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


# VGG19 ("E") up to relu5_1: conv widths, "M" for 2x2 max pooling.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)


def _vgg19_features(num_layers: int) -> nn.Sequential:
    """The layers of torchvision's ``vgg19().features[:num_layers]``: same names and init.

    Built here rather than through ``vgg19()`` because that also initialises the 120M
    classifier weights, which takes seconds and is thrown away.
    """
    layers: list[nn.Module] = []
    channels = 3
    for entry in _LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(channels, int(entry), kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            channels = int(entry)
    return nn.Sequential(*layers[:num_layers])


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
    return {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}


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
        self.ends = _SLICE_ENDS[:num_slices]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            self.features = _vgg19_features(self.ends[-1])
        state = None
        if weights_path:
            state = _load_features_state(Path(weights_path))
        elif pretrained:
            state = _download_state()
        if state is not None:
            own = self.features.state_dict()
            wrong = [k for k in own if k not in state or state[k].shape != own[k].shape]
            if wrong:
                raise ValueError(
                    f"the VGG19 weights ({weights_path or 'download'}) lack or mis-shape "
                    f"{wrong[:4]}; use torchvision's vgg19-dcbb9e9d.pth"
                )
            self.features.load_state_dict({k: state[k] for k in own})
        self.pretrained = state is not None
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
        for index, layer in enumerate(self.features, start=1):
            out = layer(out)
            if index in self.ends:
                activations.append(out)
        return activations
