import math

import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import nn

import train
from fakedetect import load_detector
from fakedetect.module import SiameseDetectorModule
from fakedetect.nets import EfficientNetB4, SiameseTuned

TINY_NET = ["model.net.backbone=test_efficientnet", "model.net.pretrained=false"]

TINY = {
    "_target_": "fakedetect.nets.EfficientNetB4",
    "backbone": "test_efficientnet",
    "pretrained": False,
}
ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}


class MeanColour(nn.Module):
    """A stand-in extractor whose features are the mean colour of the image."""

    num_features = 3

    def features(self, images):
        return images.mean(dim=(2, 3))


def save_tiny_checkpoint(path, seed):
    torch.manual_seed(seed)
    net = instantiate(TINY)
    state = {f"net.{name}": value for name, value in net.state_dict().items()}
    torch.save(
        {
            "pytorch-lightning_version": pl.__version__,
            "state_dict": state,
            "hyper_parameters": {"net": TINY},
        },
        path,
    )
    return net.eval()


def test_detect_triplet_loss_is_zero_only_for_separated_triplets():
    module = SiameseDetectorModule(SiameseTuned(MeanColour()), ADAM, ADAM)
    colour = lambda value: torch.full((2, 3, 4, 4), value)  # noqa: E731
    separated = {"anchor": colour(0.0), "positive": colour(0.1), "negative": colour(2.0)}
    assert module.triplet_step_loss(separated) == 0
    close = {"anchor": colour(0.0), "positive": colour(0.1), "negative": colour(0.3)}
    # distance to the positive sqrt(3) * 0.1, to the negative sqrt(3) * 0.3, margin 1
    expected = 1 + math.sqrt(3) * 0.1 - math.sqrt(3) * 0.3
    assert module.triplet_step_loss(close).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "model", ["effnet_b4", "effnet_att", "effnet_st", "effnet_att_st", "xception"]
)
def test_detect_fast_dev_run_of_every_model_config(detector_cfg, model):
    cfg = detector_cfg([f"model={model}", *TINY_NET, "debug=fast_dev_run"])
    train.train(cfg)
    videos = pd.read_csv(f"{cfg.paths.output_dir}/test/videos.csv")
    assert list(videos.columns) == ["video", "label", "score", "logit", "frames"]
    assert videos["score"].between(0, 1).all() and len(videos)


def test_detect_ensemble_tests_its_members_average(detector_cfg, face_dataset, tmp_path):
    first = save_tiny_checkpoint(tmp_path / "a.ckpt", seed=1)
    second = save_tiny_checkpoint(tmp_path / "b.ckpt", seed=2)
    members = f"model.members=[{{path: {tmp_path / 'a.ckpt'}}},{{path: {tmp_path / 'b.ckpt'}}}]"
    cfg = detector_cfg(["model=ensemble", members, "train=false", "data.eval_batch_size=64"])
    ensemble = instantiate(cfg.model)
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ensemble(images), (first(images) + second(images)) / 2)
    train.train(cfg)
    videos = pd.read_csv(f"{cfg.paths.output_dir}/test/videos.csv")
    assert len(videos) == 4 and (videos["frames"] == 4).all()
    metrics = pd.read_csv(f"{cfg.paths.output_dir}/test/metrics.csv").set_index("metric")
    assert set(metrics.index) == {"ap", "auc", "bacc", "eer", "logloss"}

    with pytest.raises(RuntimeError, match="only tests or predicts"):
        train.train(detector_cfg(["model=ensemble", members, "debug=fast_dev_run"]))


class PhaseRecorder(pl.Callback):
    def __init__(self):
        self.batch_kinds, self.extractor_at_switch = [], None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.batch_kinds.append((module.phase, "anchor" if "anchor" in batch else "image"))
        if module.phase == "head" and self.extractor_at_switch is None:
            state = module.net.feature_extractor.state_dict()
            self.extractor_at_switch = {k: v.clone() for k, v in state.items()}


def test_detect_siamese_recipe_runs_triplet_then_head_in_one_fit(detector_cfg):
    cfg = detector_cfg(
        [
            "model=effnet_att_st",
            *TINY_NET,
            "model.triplet_max_steps=4",
            "model.triplet_val_every_n_steps=2",
            "model.head_max_steps=3",
            "model.head_val_every_n_steps=2",
        ]
    )
    datamodule, module = instantiate(cfg.data), instantiate(cfg.model)
    initial = {k: v.clone() for k, v in module.net.feature_extractor.state_dict().items()}
    recorder = PhaseRecorder()
    trainer = pl.Trainer(
        max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[recorder],
    )  # fmt: skip
    trainer.fit(module, datamodule=datamodule)

    assert recorder.batch_kinds == [("triplet", "anchor")] * 4 + [("head", "image")] * 3
    assert trainer.current_epoch == 4  # two triplet epochs of 2 steps, head epochs of 2 + 1
    assert module.phase == "head" and module.net.frozen
    changed = [k for k in initial if not torch.equal(initial[k], recorder.extractor_at_switch[k])]
    assert changed, "the triplet phase must train the extractor"
    final = module.net.feature_extractor.state_dict()
    for name, value in recorder.extractor_at_switch.items():
        assert torch.equal(final[name], value), f"{name} changed in the head phase"
    assert math.isfinite(trainer.callback_metrics["val/loss"])
    assert "val/auc_video" in trainer.callback_metrics

    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    resumed = instantiate(cfg.model)
    assert resumed.phase == "triplet" and not resumed.net.frozen
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.phase == "head" and resumed.net.frozen and resumed.phase_start_step == 4


def test_detect_siamese_starts_from_a_binary_checkpoint(detector_cfg, tmp_path):
    binary = save_tiny_checkpoint(tmp_path / "binary.ckpt", seed=3)
    cfg = detector_cfg(
        ["model=effnet_st", *TINY_NET, f"model.init_from={tmp_path / 'binary.ckpt'}"]
    )
    module = instantiate(cfg.model)
    module.setup("fit")
    for name, value in binary.state_dict().items():
        assert torch.equal(module.net.feature_extractor.state_dict()[name], value)
    assert isinstance(load_detector(tmp_path / "binary.ckpt"), EfficientNetB4)


@pytest.mark.slow
def test_detect_tiny_binary_training_lowers_the_loss(detector_cfg):
    cfg = detector_cfg(
        [
            "model=effnet_att",
            *TINY_NET,
            "model.optimizer.lr=3e-3",
            "model.val_every_n_steps=8",
            "model.max_steps=32",
            "data.batch_size=8",
            "data.augment=null",
            "seed=0",
        ]
    )
    train.train(cfg)
    logged = pd.read_csv(f"{cfg.paths.output_dir}/csv/metrics.csv")
    losses = logged["train/loss_epoch"].dropna().tolist()
    print("train/loss per epoch:", [round(loss, 3) for loss in losses])
    print("val/auc_frame per epoch:", logged["val/auc_frame"].dropna().round(3).tolist())
    assert len(losses) == 4
    assert losses[-1] < 0.5 * losses[0]
