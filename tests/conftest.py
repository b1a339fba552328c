"""Shared fixtures: offline environment, a small thread budget, config composition."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

import train  # noqa: E402,F401  (registers the config resolvers)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
_RUN_NUMBERS = itertools.count()
REFERENCE_DIR = Path(
    os.environ.get("DEEPFAKE_LAB_REFERENCE", ROOT.parent / "shared" / "reference")
).resolve()

# Two threads a process, shared out among pytest-xdist's workers (`make test` runs one
# worker a core): oversubscribed cores make torch's thread pools spin against each other.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, torch.get_num_threads()) // _WORKERS))


@pytest.fixture
def one_thread():
    """Run a test on one torch thread, whatever the worker count.

    Why: float sums split across threads round differently, so a learning check's measured
    numbers (and its margin) hold for one thread count; one thread is what every way of
    running the suite can give it.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compose_config(overrides: list[str], tmp_path: Path, config_name: str = "train") -> DictConfig:
    """Compose a primary config of ``conf/`` as its command would, writing under tmp_path.

    ``train`` is ``python train.py <overrides>``; ``studies`` and ``loop`` are
    ``python -m loop.studies`` and ``python -m loop``. Hydra's runtime
    values are set as a real run sets them, so ``${hydra:...}`` interpolations resolve;
    data (unless ``paths.data_dir=`` is given), logs and outputs all go to ``tmp_path``.
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    # As in a real run, each run writes to its own folder under <log_dir>/<task>/runs/.
    output_dir = tmp_path / "logs" / cfg.task_name / "runs" / f"run{next(_RUN_NUMBERS):03d}"
    data_dir = next(
        (o.split("=", 1)[1] for o in overrides if o.startswith("paths.data_dir=")), None
    )
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(tmp_path / "logs")
        cfg.paths.data_dir = data_dir or str(tmp_path / "data")
    HydraConfig().set_config(cfg)
    Path(cfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
    return cfg


@pytest.fixture(scope="session")
def config_composer():
    """:func:`compose_config` for fixtures wider than one test.

    Why a fixture: several test folders have a ``conftest.py``, so ``from conftest import``
    resolves to whichever pytest loaded last when the whole suite runs.
    """
    return compose_config


@pytest.fixture
def make_cfg(tmp_path):
    """Return a function ``overrides -> composed config`` rooted in this test's tmp dir."""

    def _make(
        overrides: list[str] | None = None, root: Path | None = None, config_name: str = "train"
    ) -> DictConfig:
        return compose_config(list(overrides or []), root or tmp_path, config_name)

    yield _make
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The official-code reference outputs; tests skip with the reason where absent."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(
            f"reference outputs not found at {REFERENCE_DIR}; set DEEPFAKE_LAB_REFERENCE "
            "to the shared/reference folder to run the checkpoint-importer tests"
        )
    return REFERENCE_DIR
