"""Does each trainer config's batch-norm synchronisation keep each model's network? A table.

For every model config x every trainer config: the real-size LightningModule (pretrained
weights off, small random inputs, eval mode), converted by the layer sync its trainer
builds from the composed config (the Trainer decides it from ``sync_batchnorm`` and
``plugins``, whatever the accelerator, so the trainer is instantiated on the CPU), and the
largest absolute difference of its outputs from the unconverted network's. Beside it, the
same for Lightning's default ``TorchSyncBatchNorm``, which a plain ``sync_batchnorm: true``
would use. ``revert`` must give back the original module classes.

Outside a process group ``SyncBatchNorm`` computes plain batch norm, so the CPU is enough.
The ensemble never fits (it refuses training, so no trainer converts it); its row is the
network of two members, converted by hand.

    python benchmarks/sync_batchnorm.py
    python benchmarks/sync_batchnorm.py --models effnet_b4 fomm_tiny --setups trainer=ddp
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hydra  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from pytorch_lightning.plugins.layer_sync import LayerSync, TorchSyncBatchNorm  # noqa: E402
from torch import nn  # noqa: E402

from datamodules.training.precision import hardware_banner  # noqa: E402

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
# Every trainer config, and the experiments (which may select one).
SETUPS = [
    f"{group}={p.stem}"
    for group in ("trainer", "experiment")
    for p in sorted((CONF_DIR / group).glob("*.yaml"))
]
LIGHTNING_DEFAULT = "lightning default"
# Pretrained weights off (nothing to download), and FOMM's perceptual VGG19 (no batch norm,
# never trained) replaced by the one-level pixel pyramid, so building and probing are quick.
NO_DOWNLOADS = {
    "detector": ["model.net.pretrained=false"],
    "fomm": [
        "model.perceptual_network.pretrained=false",
        "model.perceptual_network.network=pixels",
        "model.train_params.loss_weights.perceptual=[10]",
    ],
}
ENSEMBLE_MEMBERS = ("effnet_b4", "effnet_att")


def compose_train_config(overrides: Sequence[str]) -> DictConfig:
    """``conf/train.yaml`` composed as ``python train.py <overrides>`` would (unresolved)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def trainer_layer_sync(overrides: Sequence[str], root_dir: str) -> LayerSync | None:
    """The layer sync the Trainer of ``python train.py <overrides>`` applies when it fits.

    The Trainer picks it in its accelerator connector from ``sync_batchnorm`` and
    ``plugins`` alone; the trainer is built on the CPU (with as many devices as the
    config asks, two for "every GPU") so that no GPU is needed to see the decision.
    """
    config = compose_train_config(overrides).trainer
    devices = config.devices if isinstance(config.devices, int) and config.devices > 0 else 2
    built = hydra.utils.instantiate(
        config,
        accelerator="cpu",
        devices=devices,
        default_root_dir=root_dir,
        precision="32-true",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return getattr(built.strategy, "_layer_sync", None)


def setup_layer_syncs(setups: Sequence[str]) -> dict[str, LayerSync | None]:
    """The layer sync of each setup (``trainer=ddp``, ``experiment=fomm_vox_bf16``...)."""
    with tempfile.TemporaryDirectory() as root:
        return {setup: trainer_layer_sync([setup], root) for setup in setups}


def _family(model: str) -> str:
    target = compose_train_config([f"model={model}"]).model.get("_target_", "")
    return "fomm" if target.startswith("fomm.") else "detector"


def build_model(model: str) -> nn.Module:
    """The model config's LightningModule at full size, without downloading weights.

    The ensemble (which loads trained members from files) is its network: the members'
    nets of :data:`ENSEMBLE_MEMBERS` averaged by ``LogitEnsemble``.
    """
    if model == "ensemble":
        from fakedetect.nets import LogitEnsemble

        return LogitEnsemble([build_model(member).net for member in ENSEMBLE_MEMBERS])
    overrides = NO_DOWNLOADS[_family(model)]
    present = compose_train_config([f"model={model}"]).model
    # Only the keys the model has (TPSMM's AVD stage trains no perceptual loss).
    overrides = [o for o in overrides if _has_key(present, o.split("=", 1)[0])]
    if OmegaConf.is_missing(present, "init_from"):
        overrides.append("model.init_from=null")  # an AVD stage on random weights suffices
    config = compose_train_config([f"model={model}", *overrides]).model
    torch.manual_seed(0)  # the same random weights every run: the table repeats
    return hydra.utils.instantiate(config)


def _has_key(model_config: DictConfig, key: str) -> bool:
    """Whether ``model.<a>.<b>`` names an existing key of the model config."""
    node: object = model_config
    for part in key.removeprefix("model.").split("."):
        if not isinstance(node, DictConfig) or part not in node:
            return False
        node = node[part]
    return True


def _tpsmm_input_size(module: nn.Module) -> int:
    """The smallest side TPSMM's dense-motion hourglass accepts (each level halves it)."""
    motion = module.hparams.model_params["dense_motion_params"]
    return max(64, int(2 ** motion["num_blocks"] / motion["scale_factor"]))


def _fomm_input_size(module: nn.Module) -> int:
    """The smallest side the FOMM hourglasses accept (each level halves it)."""
    params = module.hparams.model_params
    kp, motion = params["kp_detector_params"], params["generator_params"]["dense_motion_params"]
    sides = [2 ** p["num_blocks"] / p["scale_factor"] for p in (kp, motion)]
    return max(64, int(max(sides)))


@torch.no_grad()
def network_outputs(module: nn.Module) -> dict[str, torch.Tensor]:
    """What the network computes on fixed random inputs, in eval mode.

    FOMM: the generator-side losses (keypoints, generator, equivariance, and the
    discriminator in adversarial configs), the discriminator loss, the prediction and the
    keypoints. Detectors: the pooled features and the logits.
    """
    module.eval()
    generator = torch.Generator().manual_seed(0)
    if hasattr(module, "reconstruction_animator") and not hasattr(module, "generator_losses"):
        # TPSMM (and its AVD stage): every network takes part in animating a frame.
        size = _tpsmm_input_size(module)
        frames = torch.rand(3, 3, size, size, generator=generator)
        animator = module.reconstruction_animator(frames[0])
        return {"prediction": animator(frames[1:])["prediction"]}
    if hasattr(module, "generator_losses"):
        size = _fomm_input_size(module)
        source, driving = torch.rand(2, 1, 3, size, size, generator=generator)
        torch.manual_seed(0)  # the equivariance transform is random
        losses, generated = module.generator_losses(source, driving)
        outputs = {f"loss_{name}": value for name, value in losses.items()}
        if module.use_gan:
            outputs.update(module.discriminator_losses(generated))
        outputs["prediction"] = generated["prediction"]
        outputs.update({f"kp_{k}": v for k, v in generated["kp_driving"].items()})
        return outputs
    images = torch.randn(2, 3, 64, 64, generator=generator)
    outputs = {"logits": module(images)}
    net = getattr(module, "net", None)
    if net is not None and hasattr(net, "features"):
        outputs["features"] = net.features(images)
    return outputs


def max_difference(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference over every output (inf where one is not finite)."""
    return max(
        float((after[key].float() - value.float()).abs().max()) for key, value in before.items()
    )


def module_classes(module: nn.Module) -> list[tuple[str, type]]:
    """Every submodule's name and class, in order."""
    return [(name, type(child)) for name, child in module.named_modules()]


@dataclass(frozen=True)
class SyncCheck:
    """One conversion, checked.

    Attributes:
        converted: max |output difference| after ``apply``.
        reverted: the same after ``revert``.
        classes_restored: ``revert`` gave back every original module class.
    """

    converted: float
    reverted: float
    classes_restored: bool


def check_layer_sync(module: nn.Module, layer_sync: LayerSync) -> SyncCheck:
    """Convert ``module`` with ``layer_sync``, compare its outputs, revert, compare again."""
    before = network_outputs(module)
    classes = module_classes(module)
    converted = layer_sync.apply(module)
    converted_difference = max_difference(before, network_outputs(converted))
    reverted = layer_sync.revert(converted)
    return SyncCheck(
        converted=converted_difference,
        reverted=max_difference(before, network_outputs(reverted)),
        classes_restored=module_classes(reverted) == classes,
    )


def sync_table(
    models: Sequence[str], layer_syncs: dict[str, LayerSync | None]
) -> list[dict[str, object]]:
    """One row per model: each setup's and Lightning's default conversion, checked."""
    rows = []
    for model in models:
        module = build_model(model)
        row: dict[str, object] = {"model": model}
        for setup, layer_sync in layer_syncs.items():
            row[setup] = check_layer_sync(module, layer_sync) if layer_sync is not None else None
        row[LIGHTNING_DEFAULT] = check_layer_sync(copy.deepcopy(module), TorchSyncBatchNorm())
        rows.append(row)
    return rows


def _cell(check: SyncCheck | None) -> str:
    if check is None:
        return "no sync"
    return f"{check.converted:.1e}" + ("" if check.classes_restored else " (classes lost)")


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument(
        "--setups", nargs="+", default=SETUPS, help="trainer=<name> or experiment=<name>"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(hardware_banner("cpu"))
    layer_syncs = setup_layer_syncs(args.setups)
    print(
        "layer sync: "
        + ", ".join(
            f"{setup} {type(sync).__name__ if sync else 'none'}"
            for setup, sync in layer_syncs.items()
        )
    )
    rows = sync_table(args.models, layer_syncs)
    columns = [*layer_syncs, LIGHTNING_DEFAULT]
    print("max |outputs after conversion - before| in eval mode; 'no sync': nothing converted")
    print("| model | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for row in rows:
        print(f"| {row['model']} | " + " | ".join(_cell(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
