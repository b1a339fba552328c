"""train(cfg) end to end on the default tiny FOMM: fast_dev_run, bf16, DDP on CPU, resume."""

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import train

TINY_RUN = [
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "data.num_workers=0",
    "trainer.log_every_n_steps=1",
]


class StepRecorder(pl.Callback):
    """Records where training started and ended (tests add it through the config)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.record = {"start_step": None, "batches": 0, "end_step": None}

    def on_train_start(self, trainer, pl_module):
        self.record["start_step"] = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.record["batches"] += 1

    def on_train_end(self, trainer, pl_module):
        self.record["end_step"] = trainer.global_step
        self.path.write_text(json.dumps(self.record))


class ScriptedValidation(pl.Callback):
    """Replaces a validation metric by scripted values, one per validation (tests only).

    Runs before the checkpoint callbacks (Lightning orders those last), so they rank by it.
    """

    def __init__(self, metric: str, values: list[float]) -> None:
        self.metric = metric
        self.values = list(values)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            trainer.callback_metrics[self.metric] = torch.tensor(self.values.pop(0))


@pytest.fixture(scope="module")
def embedded_root(tmp_path_factory):
    """Generate the embedded dataset once for this module's runs."""
    return tmp_path_factory.mktemp("data")


def test_default_fast_dev_run(make_cfg, embedded_root):
    cfg = make_cfg(["debug=fast_dev_run", f"paths.data_dir={embedded_root}"])
    train.train(cfg)


def test_bf16_mixed_on_cpu(make_cfg, embedded_root):
    cfg = make_cfg(
        ["debug=fast_dev_run", "trainer.precision=bf16-mixed", f"paths.data_dir={embedded_root}"]
    )
    train.train(cfg)


def test_experiment_fomm_vox_bf16_runs_on_tiny_settings(make_cfg, embedded_root):
    """The experiment's own values (bf16, TF32 matmuls) on the tiny model and data."""
    cfg = make_cfg(
        [
            "experiment=fomm_vox_bf16",
            "model=fomm_tiny",
            "data=embedded",
            "trainer=cpu",
            "debug=fast_dev_run",
            "logger=csv",
            f"paths.data_dir={embedded_root}",
        ]
    )
    assert cfg.trainer.precision == "bf16-mixed" and cfg.matmul_precision == "high"
    previous = torch.get_float32_matmul_precision()
    try:
        train.train(cfg)
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(previous)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert math.isfinite(metrics["train/loss_generator"])


def _recorded_run(make_cfg, root, data_root, max_steps, extra=()):
    record = Path(root) / f"steps_{max_steps}.json"
    cfg = make_cfg(
        [
            *TINY_RUN,
            f"paths.data_dir={data_root}",
            f"trainer.max_steps={max_steps}",
            "trainer.max_epochs=1000",
            "test=false",
            "+callbacks.recorder._target_=test_train_runs.StepRecorder",
            f"+callbacks.recorder.path={record}",
            *extra,
        ],
        root=root,
    )
    metric = train.train(cfg)
    return json.loads(record.read_text()), cfg, metric


def test_resume_from_last_continues_at_the_same_step(make_cfg, embedded_root, tmp_path):
    first, cfg, _ = _recorded_run(make_cfg, tmp_path, embedded_root, max_steps=4)
    assert first["start_step"] == 0 and first["end_step"] == 4
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert last.is_file()
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4

    # A new run (its own output dir) with ckpt_path=last picks up the first run's last.ckpt.
    second, cfg2, _ = _recorded_run(
        make_cfg, tmp_path, embedded_root, max_steps=8, extra=["ckpt_path=last"]
    )
    assert cfg2.paths.output_dir != cfg.paths.output_dir
    assert second["start_step"] == 4
    assert second["end_step"] == 8
    assert second["batches"] == first["batches"]
    # What the second run resumed, and who trained its checkpoints, is written down.
    run = json.loads((Path(cfg2.paths.output_dir) / "run.json").read_text())
    assert run["resumed_from"] == str(last) and run["model"] == "fomm_tiny"
    saved = torch.load(Path(cfg2.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["run_identity"]["module"] == "fomm.module.FOMMLitModule"


def test_sweepers_get_the_best_validation_not_the_last(make_cfg, embedded_root):
    """val/l1 goes 0.5, 0.2, 0.3, 0.4: train() returns 0.2, the score of the kept checkpoint."""
    cfg = make_cfg(
        [
            *TINY_RUN,
            f"paths.data_dir={embedded_root}",
            "trainer.max_epochs=4",
            "trainer.limit_train_batches=1",
            "trainer.limit_val_batches=1",
            "trainer.num_sanity_val_steps=0",
            "test=false",
            "+callbacks.scripted._target_=test_train_runs.ScriptedValidation",
            "+callbacks.scripted.metric=val/l1",
            "+callbacks.scripted.values=[0.5,0.2,0.3,0.4]",
        ]
    )
    assert cfg.optimized_metric == "val/l1"
    assert train.train(cfg) == pytest.approx(0.2)
    output = Path(cfg.paths.output_dir)
    assert json.loads((output / "metrics.json").read_text())["val/l1"] == pytest.approx(0.4)
    record = json.loads((output / "checkpoints.json").read_text())
    assert record["monitor"] == "val/l1" and record["best_model_score"] == pytest.approx(0.2)
    assert record["best_model_path"].startswith("checkpoints/best-epoch001-")
    assert record["last_model_path"] == "checkpoints/last.ckpt"


def test_train_false_tests_the_named_checkpoint(make_cfg, embedded_root):
    """``train=false ckpt_path=X`` evaluates X: the same test scores as right after fitting."""
    small = [
        *TINY_RUN,
        f"paths.data_dir={embedded_root}",
        "trainer.max_steps=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=2",
    ]
    fitted = make_cfg(small)
    train.train(fitted)
    fitted_dir = Path(fitted.paths.output_dir)
    after_fit = json.loads((fitted_dir / "metrics.json").read_text())
    # No validation ran in 3 steps, so the run tested its final weights: those of last.ckpt.
    last = fitted_dir / "checkpoints" / "last.ckpt"

    tested = make_cfg([*small, "train=false", f"ckpt_path={last}"])
    train.train(tested)
    only_test = json.loads((Path(tested.paths.output_dir) / "metrics.json").read_text())
    assert only_test["test/l1"] == pytest.approx(after_fit["test/l1"], rel=1e-5)

    untrained = make_cfg([*small, "train=false"])
    train.train(untrained)
    scratch = json.loads((Path(untrained.paths.output_dir) / "metrics.json").read_text())
    assert scratch["test/l1"] != pytest.approx(after_fit["test/l1"], rel=1e-3)


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_fit_then_test(make_cfg, embedded_root):
    cfg = make_cfg(
        [
            *TINY_RUN,
            "trainer=ddp_cpu",
            f"paths.data_dir={embedded_root}",
            "trainer.max_steps=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
        ]
    )
    train.train(cfg)
    output = Path(cfg.paths.output_dir)
    assert torch.load(output / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    # Fit ran in spawned workers, test after it: both land in the one CSV log.
    header = (output / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "test/l1" in header
    assert any(name.startswith("train/") for name in header)
    final = json.loads((output / "metrics.json").read_text())
    assert 0 <= final["test/l1"] <= 1
