"""Load detectors from disk: the paper's published weights, or our own checkpoints.

The ICPR 2020 weights are state dicts of the official ``fornet`` models, whose
EfficientNets come from efficientnet_pytorch (flat ``_blocks.N`` names) and
whose Xception is the Cadene port. :func:`load_icpr_weights` renames every entry
into our timm-based networks with an explicit table, and refuses to load
anything that does not match one to one: every file entry is used, every model
entry is filled, every shape agrees; otherwise one error lists what differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual
from torch import nn

from datamodules.training.checkpoints import safe_load
from fakedetect.nets import (
    EfficientNetAutoAttB4,
    EfficientNetAutoAttB4ST,
    EfficientNetB4,
    EfficientNetB4ST,
    SiameseTuned,
    Xception,
)

# The official architectures that have published weights, and how to build ours.
ICPR_ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "EfficientNetB4": lambda: EfficientNetB4(pretrained=False),
    "EfficientNetAutoAttB4": lambda: EfficientNetAutoAttB4(pretrained=False),
    "EfficientNetB4ST": lambda: EfficientNetB4ST(pretrained=False),
    "EfficientNetAutoAttB4ST": lambda: EfficientNetAutoAttB4ST(pretrained=False),
    "Xception": lambda: Xception(pretrained=False),
}

# efficientnet_pytorch MBConvBlock parts -> timm block parts.
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_EFFICIENTNET_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
}
_WRAPPER_KEYS = ("net", "state_dict", "model")


class WeightsMismatchError(ValueError):
    """A weights file does not fit the network it is loaded into."""


def read_state_dict(path: str | Path, trust_checkpoint: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict saved plain or inside a training checkpoint, as float32 on the CPU.

    Accepts a plain state dict, the official training checkpoints (``{'net':
    state_dict, 'opt': ...}``) and ``state_dict``/``model`` wrappers, with or
    without a DataParallel ``module.`` prefix. Half-precision entries are cast
    to float32, so fp16 releases load into fp32 models.

    Args:
        path: the weights file.
        trust_checkpoint: allow a file that needs full unpickling (it can run code);
            the published weights do not need it.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UntrustedCheckpointError: the file needs full unpickling and is not trusted.
        WeightsMismatchError: the file holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weights file {path} does not exist.")
    content: Any = safe_load(path, trust_pickle=trust_checkpoint)
    for key in _WRAPPER_KEYS:
        if isinstance(content, Mapping) and isinstance(content.get(key), Mapping):
            content = content[key]
            break
    if not isinstance(content, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in content.values()
    ):
        raise WeightsMismatchError(
            f"{path} holds no state dict (expected name -> tensor, possibly under "
            f"one of {', '.join(_WRAPPER_KEYS)})."
        )
    state = {}
    for name, value in content.items():
        name = name.removeprefix("module.")
        state[name] = value.float() if value.is_floating_point() else value
    return state


def infer_icpr_architecture(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name the official architecture a state dict comes from, judging by its entry names."""
    names = list(state_dict)
    siamese = any(name.startswith("feat_ext.") for name in names)
    inner = [name.removeprefix("feat_ext.") for name in names]
    if any(name.startswith("xception.") for name in inner):
        base = "Xception"
    elif any(name.startswith("efficientnet.") for name in inner):
        attention = any(name.startswith("efficientnet.attconv.") for name in inner)
        base = "EfficientNetAutoAttB4" if attention else "EfficientNetB4"
    else:
        raise WeightsMismatchError(
            "These weights are not in the official ICPR 2020 layout (no efficientnet.* or "
            f"xception.* entries; first entries: {names[:3]})."
        )
    return base + "ST" if siamese else base


def _efficientnet_blocks(backbone: nn.Module) -> list[tuple[int, int, dict[str, str]]]:
    """The timm (stage, index, part names) of every block, in efficientnet_pytorch's flat order."""
    flat = []
    for stage_index, stage in enumerate(backbone.blocks):
        for block_index, block in enumerate(stage):
            if isinstance(block, DepthwiseSeparableConv):
                parts = _DEPTHWISE_SEPARABLE
            elif isinstance(block, InvertedResidual):
                parts = _INVERTED_RESIDUAL
            else:
                raise WeightsMismatchError(
                    f"blocks.{stage_index}.{block_index} is a {type(block).__name__}, which "
                    "efficientnet_pytorch has no counterpart for."
                )
            flat.append((stage_index, block_index, parts))
    return flat


def _rename_efficientnet(name: str, flat_blocks: list[tuple[int, int, dict[str, str]]]) -> str:
    """Rename one ``efficientnet.*`` entry (without the prefix) to our detector's name."""
    if name.startswith("attconv."):
        return "gate.conv." + name.removeprefix("attconv.")
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(.+)", name)
    if match:
        index, part, leaf = int(match[1]), match[2], match[3]
        if index < len(flat_blocks) and part in flat_blocks[index][2]:
            stage, block, parts = flat_blocks[index]
            return f"backbone.blocks.{stage}.{block}.{parts[part]}.{leaf}"
        return ""
    module, _, leaf = name.partition(".")
    return f"backbone.{_EFFICIENTNET_TOP[module]}.{leaf}" if module in _EFFICIENTNET_TOP else ""


def _binary_renamer(net: nn.Module) -> Callable[[str], str]:
    """A function renaming official binary-detector entries to ``net``'s ("" where none fits)."""
    backbone = getattr(net, "backbone", None)
    flat_blocks = _efficientnet_blocks(backbone) if hasattr(backbone, "blocks") else None

    def rename(name: str) -> str:
        if name.startswith("classifier."):
            return name
        if name.startswith("efficientnet.") and flat_blocks is not None:
            return _rename_efficientnet(name.removeprefix("efficientnet."), flat_blocks)
        if name.startswith("xception."):
            inner = name.removeprefix("xception.")
            if inner.startswith("last_linear."):
                return "classifier." + inner.removeprefix("last_linear.")
            return "backbone." + inner
        return ""

    return rename


def convert_icpr_state_dict(
    state_dict: Mapping[str, torch.Tensor], net: nn.Module
) -> dict[str, torch.Tensor]:
    """Rename an official state dict into ``net``'s names, checking that both match exactly.

    Args:
        state_dict: official entries (``efficientnet.*``, ``xception.*``,
            ``feat_ext.*``, ``classifier.*``).
        net: the network to fill (one of :mod:`fakedetect.nets`).

    Returns:
        A state dict that ``net.load_state_dict(..., strict=True)`` accepts.

    Raises:
        WeightsMismatchError: listing the file entries with no place in ``net``,
            the entries of ``net`` the file does not fill, and shape mismatches.
    """
    siamese = isinstance(net, SiameseTuned)
    rename = _binary_renamer(net.feature_extractor if siamese else net)
    converted: dict[str, torch.Tensor] = {}
    unused = []
    for name, value in state_dict.items():
        if not siamese:
            new_name = rename(name)
        elif name.startswith("feat_ext."):
            inner = rename(name.removeprefix("feat_ext."))
            new_name = "feature_extractor." + inner if inner else ""
        else:
            new_name = name if re.fullmatch(r"classifier\.[01]\..+", name) else ""
        if new_name:
            converted[new_name] = value
        else:
            unused.append(name)
    check_state_dict(converted, net, unused=unused)
    return converted


def state_dict_differences(
    state_dict: Mapping[str, torch.Tensor], net: nn.Module, unused: list[str] | None = None
) -> str:
    """Describe every difference between ``state_dict`` and ``net``'s entries ("" if none)."""
    expected = net.state_dict()
    unused = list(unused or []) + [name for name in state_dict if name not in expected]
    missing = [name for name in expected if name not in state_dict]
    shapes = [
        f"{name}: file {tuple(state_dict[name].shape)} vs model {tuple(value.shape)}"
        for name, value in expected.items()
        if name in state_dict and state_dict[name].shape != value.shape
    ]
    problems = []
    for title, items in (
        ("entries with no place in the model", unused),
        ("model entries the file does not fill", missing),
        ("shape mismatches", shapes),
    ):
        if items:
            listed = "\n    ".join(items[:10])
            more = f"\n    ... and {len(items) - 10} more" if len(items) > 10 else ""
            problems.append(f"  {len(items)} {title}:\n    {listed}{more}")
    if not problems:
        return ""
    return f"The weights do not fit {type(net).__name__}:\n" + "\n".join(problems)


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor], net: nn.Module, unused: list[str] | None = None
) -> None:
    """Raise :class:`WeightsMismatchError` unless ``state_dict`` fills ``net`` exactly."""
    differences = state_dict_differences(state_dict, net, unused)
    if differences:
        raise WeightsMismatchError(differences)


def load_icpr_weights(
    path: str | Path, architecture: str | None = None, trust_checkpoint: bool = False
) -> nn.Module:
    """Load the paper's published weights into our timm-based network, in eval mode.

    Args:
        path: a ``.pth`` of the official code (plain state dict or training
            checkpoint; fp16 or fp32).
        architecture: the official class name (``EfficientNetB4``,
            ``EfficientNetB4ST``, ``EfficientNetAutoAttB4``,
            ``EfficientNetAutoAttB4ST`` or ``Xception``); None reads it from the
            entry names.
        trust_checkpoint: see :func:`read_state_dict`.

    Returns:
        The network (:mod:`fakedetect.nets`) with ``features(x)``, ``forward(x)``
        (logits) and, for the attention variants, ``attention(x)``.

    Raises:
        ValueError: unknown architecture, or weights of another architecture.
        WeightsMismatchError: entries that do not match one to one.
    """
    state_dict = read_state_dict(path, trust_checkpoint)
    found = infer_icpr_architecture(state_dict)
    architecture = architecture or found
    if architecture not in ICPR_ARCHITECTURES:
        raise ValueError(
            f"architecture={architecture!r} is not one of {', '.join(ICPR_ARCHITECTURES)}."
        )
    if architecture != found:
        raise WeightsMismatchError(
            f"{path} holds {found} weights, not {architecture}; pass architecture={found!r}."
        )
    net = ICPR_ARCHITECTURES[architecture]()
    net.load_state_dict(convert_icpr_state_dict(state_dict, net), strict=True)
    return net.eval()


def _instantiate_net(config: Mapping[str, Any]) -> nn.Module:
    """Build a network from the ``net`` config a checkpoint recorded, without downloading."""
    config = dict(config)
    if "pretrained" in config:
        config["pretrained"] = False
    return hydra.utils.instantiate(config, _convert_="all")


def load_detector(
    path: str | Path, architecture: str | None = None, trust_checkpoint: bool = False
) -> nn.Module:
    """Load a detector network from our Lightning checkpoint or the paper's weights, in eval mode.

    Args:
        path: a ``.ckpt`` written by training here, or an official ``.pth``.
        architecture: for official weights, the class name (see
            :func:`load_icpr_weights`); None infers it. Ignored for our checkpoints,
            which record their network.
        trust_checkpoint: allow a file that needs full unpickling (it can run code);
            the published weights and the checkpoints trained here do not need it.

    Returns:
        The network, with ``features``, ``forward`` and, where it has one, ``attention``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Detector weights {path} do not exist.")
    content = safe_load(path, trust_pickle=trust_checkpoint)
    if not (isinstance(content, Mapping) and "pytorch-lightning_version" in content):
        return load_icpr_weights(path, architecture, trust_checkpoint)
    net_config = (content.get("hyper_parameters") or {}).get("net")
    if not isinstance(net_config, Mapping) or "_target_" not in net_config:
        raise WeightsMismatchError(
            f"{path} does not record its network config (hyper_parameters.net); it was "
            "trained with a network object instead of a config. Build the network and "
            "load the 'net.' entries of its state_dict yourself."
        )
    net = _instantiate_net(net_config)
    state = {
        name.removeprefix("net."): value
        for name, value in content["state_dict"].items()
        if name.startswith("net.")
    }
    check_state_dict(state, net)
    net.load_state_dict(state, strict=True)
    return net.eval()


def transfer_weights(source: nn.Module, target: nn.Module) -> str:
    """Copy ``source``'s weights into ``target``, across binary and siamese-tuned layouts.

    Why: the siamese recipe starts from a trained binary detector (its
    extractor), and a binary model may start from a siamese one's extractor.

    Returns:
        Which part was copied, for the log.

    Raises:
        WeightsMismatchError: no layout pairing fits; the error lists the differences.
    """
    pairs = [(source, target, "the whole network")]
    if isinstance(target, SiameseTuned):
        pairs.append((source, target.feature_extractor, "the feature extractor"))
    if isinstance(source, SiameseTuned):
        pairs.append((source.feature_extractor, target, "the source's feature extractor"))
    for origin, destination, what in pairs:
        state = origin.state_dict()
        if not state_dict_differences(state, destination):
            destination.load_state_dict(state, strict=True)
            return what
    raise WeightsMismatchError(state_dict_differences(source.state_dict(), target))
