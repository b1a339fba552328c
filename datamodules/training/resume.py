"""Which checkpoint a training run resumes from, and the check that it is this model's.

Hydra gives every run a fresh timestamped folder, so ``ckpt_path=last`` has to find the
killed run's folder among all the runs of ``logs/<task_name>``. Taking the newest
``last.ckpt`` there would resume whatever ran last: a detector's checkpoint for an FOMM
run, or one sweep job's file for every job of a ``-m`` sweep. So each run records what it
is (:class:`RunIdentity`: its LightningModule class, ``model`` and ``data`` configs and
sweep job) in ``run.json`` beside its checkpoints and inside every checkpoint it saves;
``ckpt_path=last`` resumes only a run with the same identity, and any checkpoint (found
or named) whose recorded model differs from this run's is refused with both names.

``ckpt_path`` takes:

* ``last``: this run's own ``checkpoints/last.ckpt`` if its folder has one, otherwise the
  newest ``last.ckpt`` of a run of the same module, ``model``, ``data`` and, in a sweep,
  the same job number and job overrides (other values, e.g. ``trainer.max_steps``, may
  change on resume);
* a run folder (``logs/train/runs/<time>``): its ``checkpoints/last.ckpt``; a sweep folder
  (``logs/train/multiruns/<time>``): its ``<job number>/checkpoints/last.ckpt``;
* a ``.ckpt`` file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from datamodules.training.checkpoints import UntrustedCheckpointError, safe_load

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
CHECKPOINT_KEY = "run_identity"
LAST = Path("checkpoints") / "last.ckpt"
# Overrides that say how to resume, not what is trained: they may differ on resume.
_RESUME_OVERRIDES = ("ckpt_path=",)


class CheckpointMismatchError(ValueError):
    """A checkpoint that belongs to another model, or no checkpoint of this run."""


@dataclass(frozen=True)
class RunIdentity:
    """What a checkpoint must have been trained by for a run to resume (or test) it.

    Attributes:
        module: the LightningModule class, e.g. ``fomm.module.FOMMLitModule``.
        model: the ``model=`` config (None when composed outside ``train.py``'s Hydra
            run, e.g. inside the loop, which resumes its stages by their folders).
        data: the ``data=`` config (None likewise).
        job: the sweep job number of a ``-m`` run, None for a single run.
        overrides: the job's command-line overrides without ``ckpt_path``; compared for
            sweep jobs only, where the job number alone does not say which values it ran.
    """

    module: str
    model: str | None = None
    data: str | None = None
    job: int | None = None
    overrides: tuple[str, ...] = field(default=())

    @classmethod
    def of_run(cls, model: pl.LightningModule) -> RunIdentity:
        """The identity of the run being composed now (its Hydra choices, if any)."""
        module = f"{type(model).__module__}.{type(model).__qualname__}"
        if not HydraConfig.initialized():
            return cls(module)
        hydra_cfg = HydraConfig.get()
        choices = hydra_cfg.runtime.choices
        if "model" not in choices:  # the Hydra run of another command (the loop)
            return cls(module)
        job = hydra_cfg.job.num if hydra_cfg.mode == RunMode.MULTIRUN else None
        overrides = tuple(
            item for item in hydra_cfg.overrides.task if not item.startswith(_RESUME_OVERRIDES)
        )
        return cls(module, choices.get("model"), choices.get("data"), job, overrides)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunIdentity:
        """Read what :meth:`to_dict` wrote (unknown keys ignored)."""
        return cls(
            module=str(values.get("module")),
            model=values.get("model"),
            data=values.get("data"),
            job=values.get("job"),
            overrides=tuple(values.get("overrides") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for ``run.json`` and checkpoints (which load with weights_only)."""
        values = asdict(self)
        values["overrides"] = list(self.overrides)
        return values

    def describe(self) -> str:
        """``fomm.module.FOMMLitModule (model=fomm)``, for messages."""
        return f"{self.module} (model={self.model})" if self.model else self.module

    def describe_run(self) -> str:
        """The module with its model, data and sweep job, for the resume search's messages."""
        parts = [f"model={self.model}", f"data={self.data}"]
        if self.job is not None:
            parts.append(f"sweep job {self.job}: {' '.join(self.overrides)}")
        return f"{self.module} ({', '.join(parts)})"

    def resumes(self, other: RunIdentity) -> bool:
        """Whether ``ckpt_path=last`` of this run may continue the run ``other``."""
        same = (self.module, self.model, self.data, self.job) == (
            other.module,
            other.model,
            other.data,
            other.job,
        )
        return same and (self.job is None or self.overrides == other.overrides)

    def conflict_with(self, other: RunIdentity) -> bool:
        """Whether a checkpoint trained by ``other`` is another model than this run's."""
        if self.module != other.module:
            return True
        return bool(self.model and other.model and self.model != other.model)


class RecordRunIdentity(pl.Callback):
    """Write the run's identity into every checkpoint it saves (``run_identity``).

    Why in the file too: a checkpoint copied away from its run folder still says which
    model trained it, so resuming or testing it with another model is refused by name.
    """

    def __init__(self, identity: RunIdentity) -> None:
        self.identity = identity

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Add ``run_identity`` (plain values: the file still loads with weights_only)."""
        checkpoint[CHECKPOINT_KEY] = self.identity.to_dict()


@rank_zero_only
def write_run_file(output_dir: str | Path, identity: RunIdentity, resumed_from: str | None) -> None:
    """Write ``run.json``: the identity and the checkpoint the run started from.

    Why ``resumed_from``: under ``trainer=ddp`` Lightning starts the other ranks as new
    processes in this folder after rank 0 resolved ``ckpt_path``; they read it here so
    that every rank resumes the same file.
    """
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**identity.to_dict(), "resumed_from": resumed_from}
    temporary = folder / f".{RUN_FILE}.tmp"
    temporary.write_text(json.dumps(record, indent=2))
    os.replace(temporary, folder / RUN_FILE)


def read_run_file(run_dir: Path) -> dict[str, Any] | None:
    """The ``run.json`` of a run folder, or None (none, or not readable)."""
    try:
        return json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def check_checkpoint_fits(
    path: str | Path, identity: RunIdentity, model: pl.LightningModule
) -> None:
    """Refuse a checkpoint that another model wrote, naming both.

    The identity recorded in the checkpoint decides; a checkpoint without one (written
    before identities were recorded, or elsewhere) must at least fit the model's state
    dict: no entries the model lacks and no shape differences (entries the model has and
    the file lacks are allowed: FOMM leaves its fixed VGG out of its checkpoints).

    Raises:
        CheckpointMismatchError: another model's checkpoint, or not a Lightning checkpoint.
    """
    hint = (
        f"pass ckpt_path=<file> of a {identity.model or identity.module} run, "
        "or start fresh (no ckpt_path)"
    )
    try:
        content = safe_load(path, mmap=True)
    except UntrustedCheckpointError as error:
        raise CheckpointMismatchError(
            f"{path} holds Python objects beyond tensors and plain containers, and loading it "
            "would run code from the file; ckpt_path takes checkpoints written by train.py, "
            f"which never need that: {hint}"
        ) from error
    if not isinstance(content, Mapping) or "state_dict" not in content:
        raise CheckpointMismatchError(
            f"{path} is not a checkpoint of a train.py run (no Lightning training state); "
            f"ckpt_path resumes or tests one. To start from published weights use "
            f"model.init_from={path}; otherwise {hint}."
        )
    recorded = content.get(CHECKPOINT_KEY)
    if isinstance(recorded, Mapping):
        trained_by = RunIdentity.from_dict(recorded)
        if identity.conflict_with(trained_by):
            raise CheckpointMismatchError(
                f"{path} was trained by {trained_by.describe()}, this run is "
                f"{identity.describe()}; {hint}."
            )
        return
    differences = _state_dict_differences(content["state_dict"], model)
    if differences:
        raise CheckpointMismatchError(
            f"{path} does not hold the weights of this run's {identity.describe()} "
            f"({differences}); {hint}."
        )


def _state_dict_differences(state: Mapping[str, Any], model: pl.LightningModule) -> str:
    """Entries of ``state`` the model has no place for, and shape differences ("" if none)."""
    own = model.state_dict()
    foreign = [name for name in state if name not in own]
    shapes = [
        f"{name}: file {tuple(value.shape)} vs model {tuple(own[name].shape)}"
        for name, value in state.items()
        if name in own and hasattr(value, "shape") and tuple(value.shape) != tuple(own[name].shape)
    ]
    problems = []
    if foreign:
        problems.append(f"{len(foreign)} entries the model lacks, e.g. {', '.join(foreign[:3])}")
    if shapes:
        problems.append(f"{len(shapes)} shape differences, e.g. {'; '.join(shapes[:2])}")
    return "; ".join(problems)


def find_last_checkpoint(search_root: Path, identity: RunIdentity) -> Path:
    """The newest ``checkpoints/last.ckpt`` under ``search_root`` of a run like this one.

    Raises:
        CheckpointMismatchError: no run there has this identity; the message lists the
            runs that were found and how to name one explicitly.
    """
    matching, others = [], []
    for last in search_root.rglob("last.ckpt"):
        if last.parent.name != LAST.parent.name:
            continue
        record = read_run_file(last.parent.parent)
        if record is not None and identity.resumes(RunIdentity.from_dict(record)):
            matching.append(last)
        else:
            trained_by = RunIdentity.from_dict(record).describe_run() if record else "no run.json"
            others.append(f"{last.parent.parent} ({trained_by})")
    if matching:
        # Newest first by time; run folders are timestamped, so their names break ties.
        return max(matching, key=lambda p: (p.stat().st_mtime, str(p)))
    found = (
        f"the {len(others)} runs there with a last.ckpt are others: "
        + "; ".join(sorted(others)[:5])
        if others
        else "there is no last.ckpt there"
    )
    raise CheckpointMismatchError(
        f"ckpt_path=last found no run of {identity.describe_run()} under {search_root}: "
        f"{found}. Pass ckpt_path=<run folder> or ckpt_path=<file>, or start fresh "
        "(no ckpt_path)."
    )


def resolve_ckpt_path(
    ckpt_path: str | None,
    output_dir: Path,
    search_root: Path,
    identity: RunIdentity,
    model: pl.LightningModule,
) -> str | None:
    """Turn ``ckpt_path`` into the checkpoint file this run starts from, checked to fit.

    Args:
        ckpt_path: None, ``last``, a run or sweep folder, or a checkpoint file.
        output_dir: this run's folder.
        search_root: where ``last`` looks for earlier runs (``logs/<task_name>``).
        identity: this run's identity.
        model: this run's LightningModule (for checkpoints that record no identity).

    Returns:
        A checkpoint file path, or None to start from scratch.

    Raises:
        FileNotFoundError: a named file or folder does not exist.
        CheckpointMismatchError: the checkpoint belongs to another model, or ``last``
            found no run like this one.
    """
    if ckpt_path in (None, "", "null"):
        return None
    if rank_zero_only.rank != 0:
        record = read_run_file(output_dir)
        if record and record.get("resumed_from"):
            return str(record["resumed_from"])  # what rank 0 resolved and checked
    if ckpt_path == "last":
        own = output_dir / LAST
        chosen = own if own.is_file() else find_last_checkpoint(search_root, identity)
    else:
        chosen = _named_checkpoint(Path(ckpt_path), identity)
    check_checkpoint_fits(chosen, identity, model)
    log.info("Starting from %s", chosen)
    return str(chosen)


def _named_checkpoint(path: Path, identity: RunIdentity) -> Path:
    """A checkpoint file, or the ``last.ckpt`` of a run folder (or of this job's sweep folder)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"ckpt_path={path} does not exist; pass a .ckpt file, a run folder "
            "(logs/<task>/runs/<time>) or ckpt_path=last."
        )
    candidates = [path / LAST]
    if identity.job is not None:
        candidates.append(path / str(identity.job) / LAST)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"ckpt_path={path} is a folder without {' or '.join(str(c) for c in candidates)}; "
        "pass a run folder (logs/<task>/runs/<time>), a sweep folder "
        "(logs/<task>/multiruns/<time>, for the same sweep job) or a .ckpt file."
    )


def resume(cfg: DictConfig, model: pl.LightningModule) -> tuple[str | None, RecordRunIdentity]:
    """Resolve ``cfg.ckpt_path`` for this run, write its ``run.json``, and the callback.

    Returns:
        The checkpoint to start from (None: from scratch) and the callback that records
        the run's identity in its checkpoints.
    """
    identity = RunIdentity.of_run(model)
    output_dir = Path(cfg.paths.output_dir)
    search_root = Path(cfg.paths.log_dir) / cfg.task_name
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir, search_root, identity, model)
    write_run_file(output_dir, identity, ckpt_path)
    return ckpt_path, RecordRunIdentity(identity)
