"""Hydra multiruns of train.py: the basic (sequential) and joblib (parallel) launchers.

Each job must land in its own folder, finish with a metrics.json, and hand its
optimized_metric back to Hydra. Run as subprocesses, the way users start sweeps.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
TINY_FOMM = [
    "debug=limit",
    "trainer.max_epochs=1",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "data.num_workers=0",
    "data.num_repeats=1",
    "data.val_max_videos=1",
    "data.val_max_frames=4",
    "data.test_max_frames=4",
]


def run_train(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "train.py", *arguments, f"paths.log_dir={tmp_path / 'logs'}"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def embedded_data(tmp_path_factory):
    """Generate the embedded dataset once, so parallel jobs never race to create it."""
    from hydra.utils import instantiate

    root = tmp_path_factory.mktemp("data")
    config = OmegaConf.load(ROOT / "conf" / "data" / "embedded.yaml")
    config.root_dir = str(root / "embedded")
    instantiate(config).prepare_data()
    return root


def job_results(sweep_dir: Path) -> list[dict]:
    """The metrics.json of every job of a multirun, in job order."""
    files = sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name))
    return [json.loads(path.read_text()) for path in files]


@pytest.mark.slow
@pytest.mark.parametrize("sweep", ["grid", "joblib"])
def test_a_sweep_runs_every_job_into_its_own_folder(sweep, embedded_data, tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = run_train(
        [
            "-m",
            f"sweep={sweep}",
            *TINY_FOMM,
            f"paths.data_dir={embedded_data}",
            f"hydra.sweep.dir={sweep_dir}",
            "seed=1,2",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = job_results(sweep_dir)
    assert len(results) == 2
    for result in results:
        assert math.isfinite(result["val/l1"]) and math.isfinite(result["test/l1"])
    # Different seeds, different runs: the jobs did not share or overwrite one folder.
    assert results[0]["val/l1"] != results[1]["val/l1"]
    overrides = [OmegaConf.load(p) for p in sorted(sweep_dir.glob("*/.hydra/overrides.yaml"))]
    assert [[o for o in job if o.startswith("seed=")] for job in overrides] == [
        ["seed=1"],
        ["seed=2"],
    ]
