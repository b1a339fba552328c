"""Published-checkpoint import, export to the original format, and weight initialisation.

Two checkpoint kinds are understood:

* official: ``torch.save`` of a dict with ``kp_detector``, ``generator``, ``discriminator``
  state dicts (plus optimizer states and ``epoch``), read with its ``config/*.yaml``;
* ours: a Lightning ``.ckpt`` of :class:`fomm.module.FOMMLitModule`, whose
  ``hyper_parameters`` hold the same ``model_params``.

Checkpoints from the internet are untrusted: they are read with
``torch.load(weights_only=True)`` (:func:`datamodules.training.checkpoints.safe_load`), which the
official files pass; a file that needs full unpickling (which can run code) is refused
unless the caller passes ``trust_pickle=True`` (``trust_checkpoint=true`` on the command
line).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml
from torch import Tensor

from datamodules.plain import plain_container
from datamodules.training.checkpoints import safe_load
from fomm.nets.build import FOMMNetworks, build_networks
from fomm.tpsmm.config import is_tpsmm_model_params

if TYPE_CHECKING:
    from fomm.tpsmm.nets.build import TPSMMNetworks

log = logging.getLogger(__name__)

NETWORK_NAMES = ("kp_detector", "generator", "discriminator")
OPTIMIZER_NAMES = ("optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator")
# Prefix of the networks inside FOMMLitModule's state dict.
LIGHTNING_PREFIX = "networks."
# Values of the official configs that our checkpoints do not record (see docs/fomm.md).
_OFFICIAL_DEFAULTS = {
    "reconstruction_params": {"num_videos": 1000, "format": ".mp4"},
    "animate_params": {
        "num_pairs": 50,
        "format": ".mp4",
        "normalization_params": {
            "adapt_movement_scale": False,
            "use_relative_movement": True,
            "use_relative_jacobian": True,
        },
    },
    "visualizer_params": {"kp_size": 5, "draw_border": True, "colormap": "gist_rainbow"},
}


def read_official_config(config_path: str | Path) -> dict[str, Any]:
    """Read an original ``config/*.yaml`` (or one written by :func:`export_official`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not yaml, or no ``model_params`` section.
    """
    config_path = Path(config_path)
    if not config_path.is_file():
        raise FileNotFoundError(f"FOMM config {config_path} does not exist")
    try:
        config = yaml.safe_load(config_path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{config_path} is not a yaml file ({error})") from error
    if not isinstance(config, dict) or "model_params" not in config:
        raise ValueError(
            f"{config_path} has no model_params section; pass the config/*.yaml that belongs "
            "to the checkpoint (e.g. vox-256.yaml for vox-cpk.pth.tar)"
        )
    return config


def _strip_module_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop ``module.`` prefixes that ``DataParallel`` wrappers leave in state dicts."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def is_lightning_checkpoint(checkpoint: Any) -> bool:
    """Whether a loaded checkpoint is a Lightning one (rather than an official dict)."""
    return (
        isinstance(checkpoint, dict)
        and "state_dict" in checkpoint
        and ("hyper_parameters" in checkpoint)
    )


def network_states(checkpoint: Any, source: str | Path = "checkpoint") -> dict[str, dict]:
    """Split a loaded official or Lightning checkpoint into per-network state dicts.

    Raises:
        ValueError: neither kind (the message lists what the file holds instead).
    """
    if is_lightning_checkpoint(checkpoint):
        states: dict[str, dict] = {name: {} for name in NETWORK_NAMES}
        for key, value in checkpoint["state_dict"].items():
            for name in NETWORK_NAMES:
                prefix = f"{LIGHTNING_PREFIX}{name}."
                if key.startswith(prefix):
                    states[name][key[len(prefix) :]] = value
        if not states["generator"]:
            raise ValueError(f"{source} is a Lightning checkpoint, but not of an FOMM model")
        return states
    if isinstance(checkpoint, dict) and "generator" in checkpoint and "kp_detector" in checkpoint:
        return {
            name: _strip_module_prefix(checkpoint[name])
            for name in NETWORK_NAMES
            if isinstance(checkpoint.get(name), Mapping)
        }
    found = sorted(checkpoint)[:12] if isinstance(checkpoint, dict) else type(checkpoint).__name__
    raise ValueError(
        f"{source} is not an FOMM checkpoint: expected the keys kp_detector and generator (an "
        "official *-cpk.pth.tar) or state_dict and hyper_parameters (a Lightning .ckpt of "
        f"this project); found {found}"
    )


@dataclass
class LoadReport:
    """What :func:`load_matching_weights` did, per network."""

    loaded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per network: tensors loaded, and which were skipped."""
        lines = []
        for name, count in self.loaded.items():
            skipped = self.skipped.get(name, [])
            line = f"{name}: loaded {count} tensors"
            if skipped:
                shown = ", ".join(skipped[:6]) + (" ..." if len(skipped) > 6 else "")
                line += f", kept {len(skipped)} freshly initialised ({shown})"
            lines.append(line)
        return "; ".join(lines)


def _mismatches(module: torch.nn.Module, state: Mapping[str, Tensor]) -> tuple[dict, list[str]]:
    own = module.state_dict()
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(matching))
    return matching, skipped


def load_matching_weights(
    networks: FOMMNetworks,
    states: Mapping[str, Mapping[str, Tensor]],
    partial: tuple[str, ...] = ("discriminator",),
    source: str | Path = "checkpoint",
    names: tuple[str, ...] = NETWORK_NAMES,
) -> LoadReport:
    """Copy checkpoint weights into ``networks``.

    Networks not in ``partial`` must match exactly (a mismatch means the checkpoint belongs
    to another config); those in ``partial`` take every tensor whose name and shape match
    and keep their own initialisation for the rest, as an adversarial config started from
    a non-adversarial checkpoint needs (its discriminator differs in ``use_kp`` and ``sn``).

    ``names`` are the attributes of ``networks`` to load (FOMM's three by default; the
    TPSMM importer passes its own).

    Raises:
        ValueError: a strictly loaded network does not match, naming the tensors.
    """
    report = LoadReport()
    for name in names:
        module = getattr(networks, name)
        state = states.get(name)
        if state is None:
            if name in partial:
                report.loaded[name] = 0
                report.skipped[name] = sorted(module.state_dict())
                continue
            raise ValueError(f"{source} has no {name} weights")
        matching, skipped = _mismatches(module, state)
        unexpected = sorted(set(state) - set(matching))
        if name not in partial and (skipped or unexpected):
            raise ValueError(
                f"the {name} weights in {source} do not fit this model config: missing or "
                f"different shape {skipped[:5]}, unexpected {unexpected[:5]}. Use the config "
                "the checkpoint was trained with."
            )
        module.load_state_dict(matching, strict=name not in partial)
        report.loaded[name] = len(matching)
        report.skipped[name] = skipped
    return report


def load_official_checkpoint(
    checkpoint_path: str | Path,
    config_path: str | Path,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
) -> FOMMNetworks | TPSMMNetworks:
    """Load a published ``*-cpk.pth.tar`` with its original config, ready for inference.

    Args:
        checkpoint_path: e.g. ``vox-cpk.pth.tar``.
        config_path: the matching original yaml, e.g. ``config/vox-256.yaml``.
        device: where to put the networks.
        trust_pickle: see :func:`datamodules.training.checkpoints.safe_load`.

    Returns:
        :class:`fomm.nets.FOMMNetworks` in eval mode: ``.kp_detector(image)`` gives
        ``value`` (B, K, 2) and ``jacobian`` (B, K, 2, 2); ``.generator(source,
        kp_source=..., kp_driving=...)`` gives ``prediction``, ``mask``, ``occlusion_map``,
        ``deformed``, ``sparse_deformed``. A discriminator the file lacks or that differs
        from the config stays freshly initialised (a warning says so). A Thin-Plate-Spline
        Motion Model config (``common_params.num_tps``) gives
        :class:`fomm.tpsmm.nets.TPSMMNetworks` instead (see
        :func:`fomm.tpsmm.checkpoint.load_official_tpsmm`).
    """
    config = read_official_config(config_path)
    if is_tpsmm_model_params(config["model_params"]):
        from fomm.tpsmm.checkpoint import load_official_tpsmm

        return load_official_tpsmm(checkpoint_path, config, device, trust_pickle)
    networks = build_networks(config["model_params"])
    networks.config = plain_container(config)
    checkpoint = safe_load(checkpoint_path, trust_pickle=trust_pickle)
    if is_lightning_checkpoint(checkpoint):
        raise ValueError(
            f"{checkpoint_path} is a Lightning checkpoint of this project: use "
            "fomm.checkpoint.load_fomm, which reads its config from the file"
        )
    report = load_matching_weights(
        networks, network_states(checkpoint, checkpoint_path), source=checkpoint_path
    )
    if report.skipped.get("discriminator"):
        log.warning("%s: discriminator not fully loaded (%s)", checkpoint_path, report.summary())
    return networks.to(device).eval()


def _config_from_lightning(checkpoint: dict) -> dict[str, Any]:
    hparams = plain_container(checkpoint.get("hyper_parameters", {}))
    if "model_params" not in hparams:
        raise ValueError("this Lightning checkpoint has no model_params hyper-parameter")
    return official_config(hparams, checkpoint.get("fomm_meta", {}))


def load_fomm(
    checkpoint_path: str | Path,
    config_path: str | Path | None = None,
    device: str | torch.device = "cpu",
    trust_pickle: bool = False,
) -> FOMMNetworks | TPSMMNetworks:
    """Load any animation checkpoint: an official ``.pth.tar`` (+ yaml) or one of our ``.ckpt``.

    FOMM or, where the config is a Thin-Plate-Spline Motion Model's
    (``common_params.num_tps``), TPSMM (:func:`fomm.tpsmm.checkpoint.tpsmm_from_checkpoint`).

    Args:
        checkpoint_path: the checkpoint.
        config_path: the yaml of an official checkpoint; if None, ``<name>.yaml`` next to
            it (as :func:`export_official` writes) is used. Ignored for Lightning files,
            which carry their config.
        device: where to put the networks.
        trust_pickle: see :func:`datamodules.training.checkpoints.safe_load`.

    Returns:
        :class:`fomm.nets.FOMMNetworks` or :class:`fomm.tpsmm.nets.TPSMMNetworks` in eval
        mode, as :func:`load_official_checkpoint`.
    """
    checkpoint_path = Path(checkpoint_path)
    checkpoint = safe_load(checkpoint_path, trust_pickle=trust_pickle)
    if is_lightning_checkpoint(checkpoint):
        config = _config_from_lightning(checkpoint)
    else:
        if config_path is None:
            config_path = _sibling_config(checkpoint_path)
        config = read_official_config(config_path)
    if is_tpsmm_model_params(config["model_params"]):
        from fomm.tpsmm.checkpoint import tpsmm_from_checkpoint

        networks = tpsmm_from_checkpoint(checkpoint, config, checkpoint_path)
        networks.config = plain_container(config)
        return networks.to(device).eval()
    networks = build_networks(config["model_params"])
    networks.config = plain_container(config)
    report = load_matching_weights(
        networks, network_states(checkpoint, checkpoint_path), source=checkpoint_path
    )
    if report.skipped.get("discriminator"):
        log.warning("%s: discriminator not fully loaded (%s)", checkpoint_path, report.summary())
    return networks.to(device).eval()


def _config_beside(checkpoint_path: Path) -> Path:
    """``vox-cpk.pth.tar`` -> ``vox-cpk.yaml``: where :func:`export_official` puts the config."""
    name = checkpoint_path.name
    for suffix in (".pth.tar", ".pth", ".tar", ".pt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return checkpoint_path.with_name(name + ".yaml")


def _sibling_config(checkpoint_path: Path) -> Path:
    candidate = _config_beside(checkpoint_path)
    if not candidate.is_file():
        raise ValueError(
            f"{checkpoint_path} is an official-format checkpoint and needs its config yaml: "
            f"pass config_path (no {candidate.name} next to it)"
        )
    return candidate


def load_initial_weights(
    networks: FOMMNetworks, path: str | Path, trust_pickle: bool = False
) -> LoadReport:
    """Initialise ``networks`` from an official or Lightning checkpoint before training.

    The keypoint detector and generator must match the config; the discriminator takes
    what matches (see :func:`load_matching_weights`). Optimizer states and the epoch are
    not restored: this starts a new training run (to resume one, use ``ckpt_path``).
    """
    checkpoint = safe_load(path, trust_pickle=trust_pickle)
    return load_matching_weights(networks, network_states(checkpoint, path), source=path)


def official_config(hparams: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """An original-layout config for a model trained here.

    ``model_params`` and the training settings come from the module's hyper-parameters;
    ``num_epochs``, ``batch_size``, ``num_repeats`` and ``frame_shape`` from what the run
    recorded (``fomm_meta``) when known; the rest are the original configs' common values.
    """
    train = dict(plain_container(hparams.get("train_params") or {}))
    for key in ("num_epochs", "num_repeats", "batch_size"):
        if meta.get(key) is not None:
            train.setdefault(key, meta[key])
    train.setdefault("checkpoint_freq", 50)
    config: dict[str, Any] = {}
    dataset = {k: meta[k] for k in ("root_dir", "frame_shape", "id_sampling") if meta.get(k)}
    if dataset:
        config["dataset_params"] = dataset
    config["model_params"] = plain_container(hparams["model_params"])
    config["train_params"] = train
    if hparams.get("train_avd_params"):
        config["train_avd_params"] = plain_container(hparams["train_avd_params"])
    config.update(plain_container(_OFFICIAL_DEFAULTS))
    return config


def export_official(
    ckpt: str | Path, out_path: str | Path, config_out: str | Path | None = None
) -> tuple[Path, Path]:
    """Write a Lightning checkpoint of :class:`FOMMLitModule` in the original format.

    The ``.pth.tar`` holds ``kp_detector``, ``generator``, ``discriminator``, the three
    Adam states (``optimizer_generator`` ...) where the checkpoint has them, and ``epoch``;
    the yaml beside it is an original-layout config, so the original ``demo.py`` and
    ``run.py`` (and :func:`load_official_checkpoint`) read the pair.

    Args:
        ckpt: our Lightning ``.ckpt``.
        out_path: the ``.pth.tar`` to write.
        config_out: the yaml to write; default ``out_path`` with ``.yaml`` for ``.pth.tar``.

    Returns:
        (checkpoint path, config path).
    """
    checkpoint = safe_load(ckpt)
    if not is_lightning_checkpoint(checkpoint):
        raise ValueError(f"{ckpt} is not a Lightning checkpoint of this project")
    states = network_states(checkpoint, ckpt)
    exported: dict[str, Any] = dict(states)
    optimizer_states = checkpoint.get("optimizer_states") or []
    if len(optimizer_states) == len(OPTIMIZER_NAMES):
        exported.update(zip(OPTIMIZER_NAMES, optimizer_states, strict=True))
    exported["epoch"] = int(checkpoint.get("epoch", 0))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(exported, out_path)
    config_out = _config_beside(out_path) if config_out is None else Path(config_out)
    config = _config_from_lightning(checkpoint)
    config_out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out_path, config_out
