"""Data configs' batch sizes are global: each DDP process loads its share, and says so."""

import json
from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import yaml

import train
from datamodules.training.global_batch import split_global_batch

TINY_DDP_RUN = [
    "trainer=ddp_cpu",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "data.num_workers=0",
    "trainer.max_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "test=false",
]


class BatchRecorder(pl.Callback):
    """Writes what each process loaded to ``<directory>/rank<N>.json`` (from inside the worker)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx:
            return
        record = {
            "world_size": trainer.world_size,
            "batch_size_per_process": trainer.datamodule.batch_size_per_process,
            "loaded": int(batch["source"].shape[0]),
            "global_batch_size": int(trainer.datamodule.hparams.batch_size),
        }
        path = self.directory / f"rank{trainer.global_rank}.json"
        path.write_text(json.dumps(record))


@pytest.mark.slow
def test_two_processes_each_load_half_of_the_global_batch(make_cfg, tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    cfg = make_cfg(
        [
            *TINY_DDP_RUN,
            "data.batch_size=8",
            "+callbacks.batches._target_=test_global_batch.BatchRecorder",
            f"+callbacks.batches.directory={records}",
        ]
    )
    train.train(cfg)
    for rank in (0, 1):
        record = json.loads((records / f"rank{rank}.json").read_text())
        assert record == {
            "world_size": 2,
            "batch_size_per_process": 4,
            "loaded": 4,
            "global_batch_size": 8,
        }
    logged = yaml.safe_load((Path(cfg.paths.output_dir) / "csv" / "hparams.yaml").read_text())
    assert logged["data"]["batch_size"] == 8
    assert logged["data/global_batch_size"] == 8
    assert logged["data/batch_size_per_process"] == 4
    assert logged["data/world_size"] == 2


def _attached(make_cfg, overrides):
    """The configured DataModule, attached to the configured (not launched) DDP trainer."""
    cfg = make_cfg(["trainer=ddp_cpu", "logger=csv", *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.trainer = hydra.utils.instantiate(cfg.trainer)
    return datamodule


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data=vox", "trainer.devices=3"], r"data\.batch_size=40 .* 3 process\(es\).*=39 or 42"),
        (
            ["data=ffpp", "trainer.devices=4", "data.batch_size=36"],
            r"data\.batch_size=36 .* 4 process\(es\).*multiples of 2.*=32 or 40",
        ),
        (["data=ffpp", "trainer.devices=8"], r"data\.triplet_batch_size=12 .*=8 or 16"),
    ],
)
def test_a_global_batch_the_processes_cannot_share_is_refused(make_cfg, overrides, message):
    datamodule = _attached(make_cfg, overrides)
    with pytest.raises(ValueError, match=message):
        datamodule.setup("fit")


def test_face_batches_are_shared_between_the_processes(make_cfg):
    datamodule = _attached(make_cfg, ["data=ffpp", "trainer.devices=4"])
    with pytest.raises(FileNotFoundError):  # no dataset here: setup stops after the shares
        datamodule.setup("fit")
    assert datamodule.per_process == {
        "batch_size": 8,
        "triplet_batch_size": 3,
        "eval_batch_size": 16,
    }


@pytest.mark.parametrize(
    ("size", "processes", "multiple", "share"), [(40, 8, 1, 5), (32, 4, 2, 8), (12, 1, 1, 12)]
)
def test_split_global_batch(size, processes, multiple, share):
    assert split_global_batch("batch_size", size, processes, multiple) == share


def test_balanced_shares_must_stay_even():
    with pytest.raises(ValueError, match=r"data\.batch_size=36 .* 8 process\(es\).*32 or 48"):
        split_global_batch("batch_size", 36, 8, 2, "half real, half fake")
