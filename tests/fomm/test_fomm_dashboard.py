"""FOMM's sample animation in the dashboard: an mp4 in the run folder, a wandb Video read back."""

import pytest
import pytorch_lightning as pl
import torch
from test_fomm_module import Pairs, tiny_kwargs
from torch.utils.data import DataLoader, Dataset
from wandb_records import logged, run_dirs

from datamodules.video_io import read_video
from fomm.dashboard import SampleAnimation, side_by_side
from fomm.module import FOMMLitModule


class TwoVideos(Dataset):
    """Two validation videos of 4 frames: the second drives the first's first frame."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(10 + index)
        return {"video": torch.rand(4, 3, 64, 64, generator=generator), "name": f"val{index}"}


def fit(tmp_path, loggers, epochs=1, **animation):
    torch.manual_seed(0)
    module = FOMMLitModule(**{**tiny_kwargs(), "log_images_every_n_steps": 0})
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        limit_train_batches=1,
        num_sanity_val_steps=0,
        logger=loggers,
        callbacks=[SampleAnimation(**animation)],
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(module, DataLoader(Pairs(), batch_size=2), DataLoader(TwoVideos(), batch_size=1))


@pytest.mark.slow
def test_the_sample_is_source_driving_prediction_every_n_validations(tmp_path, monkeypatch):
    """One fit with a CSV and a wandb logger: the mp4 in the run folder, the wandb Video."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    loggers = [
        pl.loggers.CSVLogger(tmp_path, name="csv", version=""),
        pl.loggers.WandbLogger(save_dir=tmp_path, offline=True, project="fomm-test"),
    ]
    try:
        fit(tmp_path, loggers, epochs=2, every_n_validations=2, frames=4, size=32)
    finally:
        import wandb

        wandb.finish()
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    # Validation 1 (step 1) of two: the second is skipped.
    assert [v.name for v in videos] == ["val_sample_animation_step0000001.mp4"]
    frames = torch.from_numpy(read_video(videos[0])).float() / 255
    assert frames.shape == (4, 32, 96, 3)
    source, driving, prediction = frames[:, :, :32], frames[:, :, 32:64], frames[:, :, 64:]
    # The source panel is one still; the driving panel moves; the prediction is neither.
    assert (source - source[:1]).abs().max() < 0.1
    assert (driving - driving[:1]).abs().mean() > 0.03
    assert (prediction - driving).abs().mean() > 0.01

    (run,) = run_dirs(tmp_path)
    (entry,) = logged(run)["val/sample_animation"]["videos"]
    assert entry["_type"] == "video-file"
    media = run / "files" / entry["path"]
    assert media.read_bytes() == videos[0].read_bytes()


def test_side_by_side_resizes_each_panel():
    source, driving = torch.zeros(3, 8, 8), torch.ones(2, 3, 8, 8)
    frames = side_by_side(source, driving, driving * 0.5, size=4)
    assert frames.shape == (2, 3, 4, 12)
    assert frames[..., :4].max() == 0 and frames[..., 4:8].min() == 1
    assert torch.allclose(frames[..., 8:], torch.full((2, 3, 4, 4), 0.5))
