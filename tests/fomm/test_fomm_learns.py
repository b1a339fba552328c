"""The tiny FOMM learns motion transfer: a few hundred steps beat both no-motion baselines."""

import json
from pathlib import Path

import pytest
import torch

import train

# 45 epochs of 10 steps (16 identities x 5 repeats, batch 8), the learning rates divided by
# 10 after epoch 35. Measured test L1 (8 videos of unseen people x 40 frames): 450 steps
# 0.0401 and 0.0406 (two runs), against 0.0446 for copying frame 0 and 0.057 for the same
# model with frozen keypoints. Shorter schedules did not clear the copy by 5%: 400 steps
# (decay at 300) 0.0426, 300 steps 0.0446, 250 steps 0.0464. The default recipe's 960
# steps reach 0.036. A keypoint detector that does not learn (lr_kp_detector=0) ends at
# 0.0547, above both baselines' bounds.
SHORT_RUN = [
    "model=fomm_tiny",
    "data=embedded",
    # The talking heads without the occlusion events and head turns the studies need:
    # the check is whether motion transfer is learnt, on the motion these 450 steps learn.
    "data.head_turn=0",
    "data.occluded_share=0",
    "data.num_repeats=5",
    "data.num_workers=0",
    "data.test_max_frames=40",
    "trainer.max_epochs=45",
    "model.train_params.epoch_milestones=[35,100]",
    "trainer.check_val_every_n_epoch=45",
    "trainer.deterministic=true",
    "seed=0",
    "model.log_images_every_n_steps=0",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]


@pytest.mark.slow
def test_tiny_fomm_beats_copying_frame_0_and_frozen_keypoints_on_unseen_people(
    make_cfg, one_thread
):
    cfg = make_cfg(SHORT_RUN)
    train.train(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    print({name: round(value, 4) for name, value in metrics.items() if name.startswith("test/")})
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["global_step"] == 450
    assert metrics["test/l1"] < 0.95 * metrics["test/l1_no_motion"]
    assert metrics["test/l1"] < 0.8 * metrics["test/l1_frozen_keypoints"]
