"""Import of published TPSMM checkpoints (``vox.pth.tar`` and friends) with their config.

A published checkpoint is a ``torch.save`` dict with ``kp_detector``,
``dense_motion_network``, ``inpainting_network``, ``bg_predictor`` (where the config has
background motion and the run reached ``bg_start``), ``avd_network`` (after the AVD
stage), optimizer states and ``epoch``. ``fomm.load_official_checkpoint`` sends TPSMM
configs here; reading the file (``weights_only``), the refusal of untrusted pickles and the
per-network loading are FOMM's (:mod:`fomm.checkpoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from datamodules.plain import plain_container
from fomm.checkpoint import (
    LIGHTNING_PREFIX,
    _strip_module_prefix,
    is_lightning_checkpoint,
    load_matching_weights,
    safe_load,
)
from fomm.tpsmm.nets.build import NETWORK_NAMES, TPSMMNetworks, build_tpsmm_networks

log = logging.getLogger(__name__)

# Networks every TPSMM checkpoint has; the background predictor and AVD network are optional.
REQUIRED_NETWORKS = ("kp_detector", "dense_motion_network", "inpainting_network")


def tpsmm_network_states(checkpoint: Any, source: str | Path = "checkpoint") -> dict[str, dict]:
    """Split a loaded official or Lightning TPSMM checkpoint into per-network state dicts.

    Floating-point tensors are cast to float32: the files may store them in half precision.

    Raises:
        ValueError: the file is not a TPSMM checkpoint (the message says what it holds).
    """
    if is_lightning_checkpoint(checkpoint):
        states: dict[str, dict] = {}
        for key, value in checkpoint["state_dict"].items():
            for name in NETWORK_NAMES:
                prefix = f"{LIGHTNING_PREFIX}{name}."
                if key.startswith(prefix):
                    states.setdefault(name, {})[key[len(prefix) :]] = value
    elif isinstance(checkpoint, dict):
        states = {
            name: _strip_module_prefix(checkpoint[name])
            for name in NETWORK_NAMES
            if isinstance(checkpoint.get(name), Mapping)
        }
    else:
        states = {}
    missing = [name for name in REQUIRED_NETWORKS if name not in states]
    if missing:
        found = sorted(checkpoint)[:12] if isinstance(checkpoint, dict) else type(checkpoint)
        hint = (
            " It looks like an FOMM checkpoint: pass its FOMM config (common_params.num_kp)."
            if isinstance(checkpoint, dict) and "generator" in checkpoint
            else ""
        )
        raise ValueError(
            f"{source} is not a TPSMM checkpoint: expected the keys {list(REQUIRED_NETWORKS)} "
            f"(a Thin-Plate-Spline Motion Model *.pth.tar); found {found}.{hint}"
        )
    return {name: _as_float32(state) for name, state in states.items()}


def _as_float32(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_official_tpsmm(
    checkpoint_path: str | Path,
    config: Mapping[str, Any],
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
) -> TPSMMNetworks:
    """Load a published TPSMM checkpoint with its original config, ready for inference.

    Use it through ``fomm.load_official_checkpoint(checkpoint_path, config_path)``, which
    reads the yaml and recognises a TPSMM config by ``common_params.num_tps``.

    Args:
        checkpoint_path: e.g. ``vox.pth.tar``.
        config: the matching original config (read from e.g. ``config/vox-256.yaml``).
        device: where to put the networks.
        trust_pickle: see :func:`fomm.checkpoint.safe_load`.

    Returns:
        :class:`~fomm.tpsmm.nets.TPSMMNetworks` in eval mode, float32: ``.kp_detector(image)``
        gives ``fg_kp`` (B, 5K, 2); ``.bg_predictor(source, driving)`` a (B, 3, 3) affine
        (None without background motion); ``.dense_motion_network(source_image=,
        kp_driving=, kp_source=, bg_param=, dropout_flag=False)`` ``deformation``,
        ``contribution_maps``, ``occlusion_map`` (a list, coarse to fine) and
        ``deformed_source``; ``.inpainting_network(source, dense_motion)`` ``prediction``,
        ``deformed`` and the rest; ``.avd_network(kp_source, kp_driving)`` ``fg_kp``
        (None where the checkpoint has no AVD network).

    Raises:
        ValueError: the file is not a TPSMM checkpoint, or does not fit the config.
    """
    checkpoint = safe_load(checkpoint_path, trust_pickle=trust_pickle)
    if is_lightning_checkpoint(checkpoint):
        raise ValueError(
            f"{checkpoint_path} is a Lightning checkpoint of this project, not a published "
            "TPSMM *.pth.tar; load_official_checkpoint reads the original format only"
        )
    return tpsmm_from_checkpoint(checkpoint, config, checkpoint_path).to(device).eval()


def tpsmm_from_checkpoint(
    checkpoint: Any, config: Mapping[str, Any], checkpoint_path: str | Path = "checkpoint"
) -> TPSMMNetworks:
    """Build the networks of ``config`` and load a read official or Lightning checkpoint.

    A Lightning checkpoint of the first training stage (``TPSMMLitModule``) holds an AVD
    network that was never trained; it is left out (``avd_network`` None) unless the file
    comes from the AVD stage (its hyper-parameters have ``train_avd_params``).

    Raises:
        ValueError: the file is not a TPSMM checkpoint, or does not fit the config.
    """
    states = tpsmm_network_states(checkpoint, checkpoint_path)
    if is_lightning_checkpoint(checkpoint):
        hparams = checkpoint.get("hyper_parameters") or {}
        if "train_avd_params" not in hparams:
            states.pop("avd_network", None)
    background = bool(config["model_params"]["common_params"].get("bg", False))
    if "bg_predictor" in states and not background:
        raise ValueError(
            f"{checkpoint_path} has background-motion weights (bg_predictor) but the config "
            "has common_params.bg: false; use the config the checkpoint was trained with"
        )
    networks = build_tpsmm_networks(config["model_params"])
    networks.config = plain_container(dict(config))
    if background and "bg_predictor" not in states:
        log.warning(
            "%s has no bg_predictor although the config has bg: true (saved before "
            "bg_start?); the background predictor is left out",
            checkpoint_path,
        )
        networks.bg_predictor = None
    if "avd_network" not in states:
        log.info("%s has no trained AVD network; avd_network is None", checkpoint_path)
        networks.avd_network = None
    names = tuple(name for name in NETWORK_NAMES if getattr(networks, name) is not None)
    load_matching_weights(networks, states, partial=(), source=checkpoint_path, names=names)
    return networks
