"""Composed FOMM configs equal the official ones, and the tiny default trains through train()."""

import math
from pathlib import Path

import pytest
import torch
from fomm_official_table import DIFFERENCES, official_config
from omegaconf import OmegaConf

from fomm.train_params import TRAIN_PARAMS_KEYS
from train import train


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_model_and_data_compose_to_the_official_config(make_cfg, name):
    model, data = DIFFERENCES[name][:2]
    cfg = make_cfg([f"model={model}", f"data={data}"])
    official = official_config(name)
    composed = OmegaConf.to_container(cfg.model, resolve=True)
    assert composed["model_params"] == official["model_params"]
    train_params = official["train_params"]
    assert {k: composed["train_params"][k] for k in TRAIN_PARAMS_KEYS} == {
        k: train_params[k] for k in TRAIN_PARAMS_KEYS
    }
    assert cfg.trainer.max_epochs == train_params["num_epochs"]
    assert cfg.data.batch_size == train_params["batch_size"]
    assert cfg.data.num_repeats == train_params["num_repeats"]
    assert list(cfg.data.frame_shape) == [256, 256, 3]


def test_model_alone_picks_vox_and_the_tiny_default_embedded(make_cfg):
    assert make_cfg(["model=fomm"]).hydra.runtime.choices.data == "vox"
    assert make_cfg(["model=fomm_adv"]).hydra.runtime.choices.data == "vox"
    cfg = make_cfg([])
    assert (cfg.hydra.runtime.choices.model, cfg.hydra.runtime.choices.data) == (
        "fomm_tiny",
        "embedded",
    )
    assert cfg.model.monitor == "val/l1" and cfg.model.monitor_mode == "min"


def test_full_size_model_builds_from_the_composed_config(make_cfg):
    import hydra

    cfg = make_cfg(["model=fomm", "data=taichi", "model.perceptual_network.pretrained=false"])
    with torch.device("meta"):
        module = hydra.utils.instantiate(cfg.model)
    assert module.networks.discriminator.discs["1"].down_blocks[0].conv.weight.shape == (
        64,
        3,
        4,
        4,
    )
    assert module.hparams.model_params == OmegaConf.to_container(cfg.model.model_params)


@pytest.fixture(scope="module")
def embedded_root(tmp_path_factory):
    """The embedded dataset, generated once for this module's runs."""
    return tmp_path_factory.mktemp("data")


def test_tiny_model_fast_dev_run_through_train(make_cfg, embedded_root):
    cfg = make_cfg(["model=fomm_tiny", "debug=fast_dev_run", f"paths.data_dir={embedded_root}"])
    train(cfg)


@pytest.mark.slow
def test_tiny_default_logs_losses_and_val_l1(make_cfg, embedded_root):
    cfg = make_cfg(
        [
            "logger=csv",
            f"paths.data_dir={embedded_root}",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
            "data.num_workers=0",
            "data.persistent_workers=false",
            "callbacks.rich_progress_bar=null",
        ]
    )
    metric = train(cfg)
    assert metric is not None and math.isfinite(metric)
    metrics = (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").read_text()
    for name in ("train/loss_perceptual", "train/loss_equivariance_value", "val/l1", "test/l1"):
        assert name in metrics
