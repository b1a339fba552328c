"""FOMMLitModule on tiny in-memory data: the training step, optimizers, checkpoints."""

import math
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, Dataset

from fomm.checkpoint import export_official, load_fomm, load_official_checkpoint
from fomm.module import FOMMLitModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def tiny_kwargs(**train_overrides):
    merged = OmegaConf.merge(
        OmegaConf.load(CONF_DIR / "model" / "fomm.yaml"),
        OmegaConf.load(CONF_DIR / "model" / "fomm_tiny.yaml"),
        {"train_params": train_overrides},
    )
    kwargs = OmegaConf.to_container(merged)
    for key in ("defaults", "_target_", "_convert_"):
        kwargs.pop(key, None)
    kwargs["log_images_every_n_steps"] = 2
    return kwargs


class Pairs(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        frame = torch.rand(3, 64, 64, generator=generator)
        return {"source": frame, "driving": frame.roll(3, dims=2), "name": f"v{index}"}


class Videos(Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        return {"video": torch.rand(3, 3, 64, 64), "name": "val0"}


def fit(module, tmp_path, ckpt_path=None, **trainer_kwargs):
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=tmp_path,
        logger=pl.loggers.CSVLogger(tmp_path, name="csv", version=""),
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        **{"max_epochs": 1, **trainer_kwargs},
    )
    trainer.fit(
        module,
        DataLoader(Pairs(), batch_size=2),
        DataLoader(Videos(), batch_size=1),
        ckpt_path=ckpt_path,
    )
    return trainer


def _parameters(module):
    return {k: v.detach().clone() for k, v in module.networks.named_parameters()}


def _changed(before, after, prefix):
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


@pytest.mark.parametrize(("generator_gan", "precision"), [(0, "32"), (1, "bf16-mixed")])
def test_training_steps_log_finite_losses_and_update_weights(tmp_path, generator_gan, precision):
    torch.manual_seed(0)
    module = FOMMLitModule(**tiny_kwargs(loss_weights={"generator_gan": generator_gan}))
    before = _parameters(module)
    trainer = fit(module, tmp_path, precision=precision)
    assert trainer.global_step == 2  # one step per batch, however many optimizers stepped
    metrics = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    expected = ["perceptual", "equivariance_value", "equivariance_jacobian", "generator"]
    if generator_gan:
        expected += ["generator_gan", "feature_matching", "discriminator_gan"]
    for name in expected:
        values = metrics[f"train/loss_{name}_step"].dropna()
        assert len(values) == 2 and all(math.isfinite(v) for v in values), name
    assert math.isfinite(metrics["val/l1"].dropna().iloc[-1])
    after = _parameters(module)
    assert _changed(before, after, "kp_detector.")
    assert _changed(before, after, "generator.")
    assert _changed(before, after, "discriminator.") == bool(generator_gan)
    assert list((tmp_path / "images").glob("train_animation_step*.png"))


def test_the_optional_ms_ssim_term_joins_the_generator_losses():
    torch.manual_seed(0)
    module = FOMMLitModule(**tiny_kwargs(loss_weights={"ms_ssim": 5}))
    frames = torch.rand(2, 3, 64, 64)
    losses, _ = module.generator_losses(frames, frames.roll(3, dims=3))
    assert 0 < losses["ms_ssim"].item() <= 5
    losses["ms_ssim"].backward()
    assert any(p.grad is not None for p in module.networks.generator.parameters())
    assert not FOMMLitModule(**tiny_kwargs()).ms_ssim.enabled  # not in loss_weights: off


def test_zero_kp_learning_rate_freezes_the_detector_and_schedules_step_per_epoch(tmp_path):
    module = FOMMLitModule(**tiny_kwargs(lr_kp_detector=0, epoch_milestones=[1]))
    before = _parameters(module)
    fit(module, tmp_path, max_epochs=2, limit_val_batches=0)
    after = _parameters(module)
    assert not _changed(before, after, "kp_detector.")
    assert _changed(before, after, "generator.")
    lrs = [scheduler.get_last_lr()[0] for scheduler in module.lr_schedulers()]
    params = module.hparams.train_params
    decayed = [0.1 * params["lr_generator"], 0.0, 0.1 * params["lr_discriminator"]]
    assert lrs == pytest.approx(decayed)


def test_checkpoint_exports_to_the_official_format_and_loads_back(tmp_path):
    torch.manual_seed(0)
    # A VGG perceptual loss (one stage, cheap) to check that checkpoints leave it out.
    kwargs = tiny_kwargs(loss_weights={"generator_gan": 1, "perceptual": [10]})
    kwargs["perceptual_network"] = {"network": "vgg19", "pretrained": False}
    module = FOMMLitModule(**kwargs)
    trainer = fit(module, tmp_path, limit_val_batches=0)
    ckpt = tmp_path / "model.ckpt"
    trainer.save_checkpoint(ckpt)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert not [k for k in state if k.startswith("perceptual.")]  # the fixed VGG is left out

    out, config = export_official(ckpt, tmp_path / "export" / "tiny-cpk.pth.tar")
    exported = torch.load(out, weights_only=True)
    assert {"kp_detector", "generator", "discriminator", "epoch"} <= set(exported)
    assert {"optimizer_generator", "optimizer_kp_detector", "optimizer_discriminator"} <= set(
        exported
    )
    official = load_official_checkpoint(out, config)
    ours = load_fomm(ckpt)
    beside = load_fomm(out)  # finds tiny-cpk.yaml next to it
    module.networks.eval()
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        reference = module.networks.kp_detector(image)["value"]
        for networks in (official, ours, beside):
            torch.testing.assert_close(networks.kp_detector(image)["value"], reference)
    assert official.config["model_params"] == module.hparams.model_params

    # Resuming restores everything but the VGG, which the module rebuilds itself.
    resumed = fit(FOMMLitModule(**kwargs), tmp_path / "resume", ckpt_path=ckpt, max_epochs=2)
    assert resumed.global_step == 4


def test_adversarial_config_starts_from_a_non_adversarial_checkpoint(tmp_path):
    torch.manual_seed(0)
    plain = FOMMLitModule(**tiny_kwargs())
    path = tmp_path / "plain-cpk.pth.tar"
    torch.save(
        {
            name: getattr(plain.networks, name).state_dict()
            for name in ("kp_detector", "generator", "discriminator")
        },
        path,
    )
    kwargs = tiny_kwargs(loss_weights={"generator_gan": 1})
    kwargs["model_params"]["discriminator_params"].update(sn=False, use_kp=True)
    adversarial = FOMMLitModule(**{**kwargs, "init_from": str(path)})
    for name in ("kp_detector", "generator"):
        ours, theirs = (getattr(m.networks, name).state_dict() for m in (adversarial, plain))
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    disc = adversarial.networks.discriminator.state_dict()
    first_conv = "discs.1.down_blocks.0.conv.weight"
    assert disc[first_conv].shape[1] == 3 + 10  # keypoint heatmaps as extra input channels

    kwargs["model_params"]["generator_params"]["num_bottleneck_blocks"] = 3
    with pytest.raises(ValueError, match="generator weights .* do not fit"):
        FOMMLitModule(**{**kwargs, "init_from": str(path)})


def test_each_loss_term_scales_with_its_own_weight():
    """The same networks, batch and random warp under other weights: each term follows its own."""
    source, driving = Pairs()[0]["source"][None], Pairs()[1]["driving"][None]
    terms = {}
    for value_weight, jacobian_weight in ((1.0, 1.0), (3.0, 0.5)):
        weights = {"equivariance_value": value_weight, "equivariance_jacobian": jacobian_weight}
        torch.manual_seed(0)
        module = FOMMLitModule(**tiny_kwargs(loss_weights=weights))
        torch.manual_seed(1)
        with torch.no_grad():
            losses, _ = module.generator_losses(source, driving)
        terms[value_weight] = {name: loss.item() for name, loss in losses.items()}
    unit, scaled = terms[1.0], terms[3.0]
    assert unit["equivariance_jacobian"] > 1e-4 and unit["equivariance_value"] > 1e-4
    assert scaled["equivariance_value"] == pytest.approx(3 * unit["equivariance_value"], rel=1e-5)
    assert scaled["equivariance_jacobian"] == pytest.approx(
        0.5 * unit["equivariance_jacobian"], rel=1e-5
    )
    assert scaled["perceptual"] == pytest.approx(unit["perceptual"], rel=1e-5)


def test_bad_train_params_are_named():
    kwargs = tiny_kwargs()
    del kwargs["train_params"]["loss_weights"]["perceptual"]
    with pytest.raises(ValueError, match="perceptual"):
        FOMMLitModule(**kwargs)


@pytest.mark.slow
def test_image_grids_reach_wandb_and_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    module = FOMMLitModule(**tiny_kwargs())
    loggers = [
        pl.loggers.TensorBoardLogger(tmp_path / "tb", name="", version=""),
        pl.loggers.WandbLogger(save_dir=tmp_path, offline=True, project="fomm-test"),
    ]
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        logger=loggers,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    try:
        trainer.fit(module, DataLoader(Pairs(), batch_size=2))
    finally:
        import wandb

        wandb.finish()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert list(tmp_path.rglob("media/images/train/animation*.png"))
    assert not (tmp_path / "images").exists()  # both loggers take images: no PNG fallback
