"""DDP on two CPU processes (gloo) for the adversarial FOMM: fit, test, same metrics as one."""

import json
import math
from pathlib import Path

import pytest
import torch
from ddp_recorders import read_weight_sums, weight_sums_overrides

import train

# A small embedded dataset: three test videos, so two processes get unequal shares.
SMALL_EMBEDDED = [
    "data.train_identities=4",
    "data.test_identities=3",
    "data.train_videos_per_identity=1",
    "data.test_videos_per_identity=1",
    "data.num_frames=12",
    "data.num_repeats=2",
    "data.batch_size=4",
    "data.num_workers=0",
    "data.val_identities=1",
    "data.val_videos_per_identity=1",
    "data.val_max_frames=4",
    "data.test_max_frames=6",
]
ADVERSARIAL = [
    "model.train_params.loss_weights.generator_gan=1",
    "model.train_params.loss_weights.discriminator_gan=1",
    "model.train_params.loss_weights.feature_matching=[10,10,10,10]",
    "+model.model_params.discriminator_params.use_kp=true",
    "model.log_images_every_n_steps=0",
]
RUN = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.log_every_n_steps=1"]


def _metrics(cfg) -> dict[str, float]:
    return json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())


@pytest.mark.slow
def test_adversarial_fomm_fits_and_tests_under_ddp_as_on_one_process(make_cfg, tmp_path):
    data = [f"paths.data_dir={tmp_path / 'data'}", *SMALL_EMBEDDED]
    fit = [*RUN, *data, *ADVERSARIAL, "trainer.max_steps=2", "trainer.limit_val_batches=1"]
    sums = tmp_path / "sums.json"
    ddp = make_cfg([*fit, "trainer=ddp_cpu", *weight_sums_overrides(sums)])
    train.train(ddp)
    # Every network learnt, and gradients were averaged: both processes hold the same weights.
    first, second = read_weight_sums(sums)
    for network in ("networks.kp_detector", "networks.generator", "networks.discriminator"):
        assert first["after"][network] != first["before"][network], network
        assert first["after"][network] == pytest.approx(second["after"][network], rel=1e-9)
    ddp_metrics = _metrics(ddp)
    last = Path(ddp.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2

    # The batch is global: one process walks the epoch in the same two steps as two.
    single = make_cfg([*fit, "trainer=cpu"])
    train.train(single)
    assert set(ddp_metrics) == set(_metrics(single))
    for name in ("train/loss_generator_gan", "train/loss_discriminator_gan", "test/l1"):
        assert math.isfinite(ddp_metrics[name]), name

    # The checkpoint the DDP run tested, evaluated by one process: the same scores.
    retest = make_cfg([*RUN, *data, *ADVERSARIAL, "train=false", f"ckpt_path={last}"])
    train.train(retest)
    for name in ("test/l1", "test/l1_no_motion", "test/l1_frozen_keypoints"):
        assert ddp_metrics[name] == pytest.approx(_metrics(retest)[name], rel=1e-5), name
