"""train(cfg) with the tiny TPSMM on the embedded data: fit and test, resume, the AVD stage, DDP."""

import json
from pathlib import Path

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

import train
from fomm.animators import make_animator
from fomm.checkpoint import load_fomm
from fomm.media import model_frame_size
from fomm.tpsmm.nets import TPSMMNetworks

SMALL = [
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "data.num_workers=0",
    "data.batch_size=4",
    "data.val_max_frames=4",
    "data.test_max_frames=4",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]


def _run(compose, root: Path, overrides: list[str]):
    cfg = compose([*SMALL, f"paths.data_dir={root / 'data'}", *overrides], root)
    try:
        metric = train.train(cfg)
    finally:
        GlobalHydra.instance().clear()
    return Path(cfg.paths.output_dir), metric


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, config_composer):
    """Two steps of the tiny TPSMM, validated and tested; the runs below start from it."""
    root = tmp_path_factory.mktemp("tpsmm")
    output, metric = _run(config_composer, root, ["model=tpsmm_tiny", "trainer.max_steps=2"])
    return root, output, metric


@pytest.mark.slow
def test_tiny_tpsmm_fits_tests_and_loads_for_animation(tiny_run):
    _, output, _ = tiny_run
    run = json.loads((output / "run.json").read_text())
    assert run["model"] == "tpsmm_tiny" and run["module"] == "fomm.tpsmm.module.TPSMMLitModule"
    metrics = json.loads((output / "metrics.json").read_text())
    assert 0 <= metrics["test/l1"] <= 1 and "test/l1_no_motion" in metrics
    last = output / "checkpoints" / "last.ckpt"
    networks = load_fomm(last)
    assert isinstance(networks, TPSMMNetworks)
    assert networks.avd_network is None  # the first stage never trains it
    assert model_frame_size(networks) == 64
    frames = torch.rand(3, 3, 64, 64)
    animator = make_animator(networks, frames[0], mode="relative")
    animator.set_initial(frames[0])
    assert animator(frames)["prediction"].shape == (3, 3, 64, 64)
    with pytest.raises(ValueError, match="AVD"):
        make_animator(networks, frames[0], mode="avd")


@pytest.mark.slow
def test_resume_continues_the_tpsmm_run_at_its_step(tiny_run, config_composer):
    root, first, _ = tiny_run
    output, _ = _run(
        config_composer, root, ["model=tpsmm_tiny", "trainer.max_steps=3", "ckpt_path=last"]
    )
    run = json.loads((output / "run.json").read_text())
    assert run["resumed_from"] == str(first / "checkpoints" / "last.ckpt")
    saved = torch.load(output / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 3
    assert len(saved["optimizer_states"]) == 2  # main and background Adam states both resumed


@pytest.mark.slow
def test_avd_stage_trains_from_the_first_stage_checkpoint(tiny_run, config_composer):
    root, first, _ = tiny_run
    trained = first / "checkpoints" / "last.ckpt"
    output, metric = _run(
        config_composer,
        root,
        [
            "model=tpsmm_tiny_avd",
            f"model.init_from={trained}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=2",
        ],
    )
    assert metric is not None and 0 <= metric <= 1  # val/l1 of reconstruction in avd mode
    stage_one, stage_two = load_fomm(trained), load_fomm(output / "checkpoints" / "last.ckpt")
    assert stage_two.avd_network is not None
    before = stage_one.inpainting_network.state_dict()
    after = stage_two.inpainting_network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    frames = torch.rand(2, 3, 64, 64)
    animator = make_animator(stage_two, frames[0], mode="avd")
    assert animator(frames)["prediction"].shape == (2, 3, 64, 64)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, config_composer):
    output, _ = _run(
        config_composer, tmp_path, ["model=tpsmm_tiny", "trainer=ddp_cpu", "trainer.max_steps=1"]
    )
    saved = torch.load(output / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == 1
    assert 0 <= json.loads((output / "metrics.json").read_text())["test/l1"] <= 1
