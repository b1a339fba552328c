"""TPSMMLitModule and the AVD stage on tiny in-memory data: steps, clipping, frozen networks."""

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from test_fomm_module import fit
from tpsmm_tiny import tiny_params

from fomm.tpsmm.module import TPSMMAVDLitModule, TPSMMLitModule

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def _config(*names, **overrides):
    merged = OmegaConf.merge(
        *(OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml") for name in names), overrides
    )
    kwargs = OmegaConf.to_container(merged)
    for key in ("defaults", "_target_", "_convert_"):
        kwargs.pop(key, None)
    kwargs["model_params"] = tiny_params()
    kwargs["log_images_every_n_steps"] = 2
    return kwargs


def tiny_kwargs(**train_overrides):
    return _config("tpsmm", "tpsmm_tiny", train_params=train_overrides)


def _parameters(module):
    return {k: v.detach().clone() for k, v in module.networks.named_parameters()}


def _changed(before, after, prefix):
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_training_steps_update_every_network_and_log_the_losses(tmp_path):
    torch.manual_seed(0)
    module = TPSMMLitModule(**tiny_kwargs(bg_start=0))
    before = _parameters(module)
    trainer = fit(module, tmp_path, enable_checkpointing=False)
    assert trainer.global_step == 2  # one step per batch, though two optimizers stepped
    metrics = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    for name in ("perceptual", "equivariance_value", "warp", "bg", "total"):
        values = metrics[f"train/loss_{name}_step"].dropna()
        assert len(values) == 2 and all(math.isfinite(v) for v in values), name
    assert metrics["train/tps_dropout_p"].dropna().iloc[-1] == pytest.approx(0.1)
    assert math.isfinite(metrics["val/l1"].dropna().iloc[-1])
    after = _parameters(module)
    for network in (
        "kp_detector.",
        "dense_motion_network.",
        "inpainting_network.",
        "bg_predictor.",
    ):
        assert _changed(before, after, network), network
    assert not _changed(before, after, "avd_network.")  # its own stage
    assert list((tmp_path / "images").glob("train_animation_step*.png"))
    assert list((tmp_path / "images").glob("val_reconstruction_step*.png"))


def test_background_waits_for_bg_start_and_the_lr_steps_per_epoch(tmp_path):
    module = TPSMMLitModule(**tiny_kwargs(bg_start=2, epoch_milestones=[1]))
    before = _parameters(module)
    fit(module, tmp_path, max_epochs=1, limit_val_batches=0, enable_checkpointing=False)
    after = _parameters(module)
    assert not _changed(before, after, "bg_predictor.")
    assert _changed(before, after, "kp_detector.")
    assert "train/loss_bg_step" not in pd.read_csv(tmp_path / "csv" / "metrics.csv")
    lr = module.hparams.train_params["lr_generator"]
    lrs = [scheduler.get_last_lr()[0] for scheduler in module.lr_schedulers()]
    assert lrs == pytest.approx([0.1 * lr, 0.1 * lr])


def test_gradients_are_clipped_to_infinity_norm_ten_per_network():
    module = TPSMMLitModule(**tiny_kwargs())
    optimizers, _ = module.configure_optimizers()
    for parameter in module.networks.parameters():
        parameter.grad = torch.full_like(parameter, 100.0)
    for optimizer in optimizers:
        module.on_before_optimizer_step(optimizer)
    nets = module.networks
    for network in (nets.kp_detector, nets.dense_motion_network, nets.bg_predictor):
        assert max(p.grad.abs().max() for p in network.parameters()) == pytest.approx(10.0)
    # The original clips neither the inpainting network nor (never stepped here) the AVD.
    assert all((p.grad == 100).all() for p in nets.inpainting_network.parameters())


def test_bad_train_params_are_named():
    kwargs = tiny_kwargs()
    del kwargs["train_params"]["bg_start"]
    with pytest.raises(ValueError, match="bg_start"):
        TPSMMLitModule(**kwargs)
    with pytest.raises(ValueError, match="dropout_maxp"):
        TPSMMLitModule(**tiny_kwargs(dropout_maxp=1.5))


def test_avd_stage_trains_the_avd_network_on_the_frozen_model(tmp_path):
    torch.manual_seed(0)
    model = TPSMMLitModule(**tiny_kwargs())
    trained = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {}}, trained)

    kwargs = _config("tpsmm_avd", init_from=str(trained))
    avd = TPSMMAVDLitModule(**kwargs)
    loaded = _parameters(avd)
    original = _parameters(model)
    assert all(torch.equal(loaded[k], original[k]) for k in loaded if "avd_network" not in k)
    fit(avd, tmp_path, enable_checkpointing=False)
    after = _parameters(avd)
    assert _changed(loaded, after, "avd_network.")
    for network in (
        "kp_detector.",
        "dense_motion_network.",
        "inpainting_network.",
        "bg_predictor.",
    ):
        assert not _changed(loaded, after, network), network
    # Batch-norm statistics of the frozen detector stay the trained model's.
    assert torch.equal(
        avd.networks.kp_detector.state_dict()["fg_encoder.bn1.running_mean"],
        model.networks.kp_detector.state_dict()["fg_encoder.bn1.running_mean"],
    )
    metrics = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    assert math.isfinite(metrics["train/loss_avd_step"].dropna().iloc[-1])
    assert math.isfinite(metrics["val/l1"].dropna().iloc[-1])
