"""Every config group composes, and the documented command lines resolve to what they promise."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

GROUPS = ["model", "data", "trainer", "logger", "callbacks", "debug", "experiment", "sweep"]


def _options(group: str) -> list[str]:
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


CASES = [(group, option) for group in GROUPS for option in _options(group)]


@pytest.mark.parametrize(("group", "option"), CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes_and_resolves(make_cfg, group, option):
    cfg = make_cfg([f"{group}={option}"])
    # Resolving catches broken interpolations that composing alone lets through.
    OmegaConf.to_container(cfg, resolve=True)
    assert cfg.hydra.runtime.choices[group] == option


def test_default_is_tiny_fomm_on_embedded(make_cfg):
    cfg = make_cfg([])
    choices = cfg.hydra.runtime.choices
    assert (choices.model, choices.data) == ("fomm_tiny", "embedded")
    assert cfg.optimized_metric == cfg.model.monitor


@pytest.mark.parametrize(
    ("overrides", "data"),
    [
        (["model=fomm", "data=taichi"], "taichi"),
        (["model=fomm"], "vox"),
        (["model=effnet_att_st"], "ffpp"),
        (["model=effnet_att_st", "data=dfdc"], "dfdc"),
    ],
)
def test_model_picks_its_natural_dataset_unless_told(make_cfg, overrides, data):
    cfg = make_cfg(overrides)
    assert cfg.hydra.runtime.choices.data == data
    OmegaConf.to_container(cfg, resolve=True)


def test_debug_modes_turn_off_loggers_and_workers(make_cfg):
    cfg = make_cfg(["debug=fast_dev_run"])
    assert cfg.trainer.fast_dev_run is True
    assert cfg.logger is None
    assert cfg.data.num_workers == 0


def test_debug_modes_keep_the_trainers_accelerator_on_one_device(make_cfg):
    gpu = make_cfg(["trainer=gpu", "debug=fast_dev_run"]).trainer
    assert (gpu.accelerator, gpu.devices) == ("gpu", 1)
    assert make_cfg(["debug=limit"]).trainer.accelerator == "cpu"


def test_precision_and_strategy_are_overridable(make_cfg):
    cfg = make_cfg(["trainer=ddp_cpu", "trainer.precision=bf16-mixed"])
    assert cfg.trainer.strategy == "ddp_spawn_find_unused_parameters_true"
    assert cfg.trainer.precision == "bf16-mixed"
    assert make_cfg(["trainer=ddp_multinode"]).trainer.num_nodes == 2


def test_wandb_goes_offline_without_credentials(make_cfg, monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    assert make_cfg([]).logger.wandb.offline is True
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert make_cfg([]).logger.wandb.offline is False
