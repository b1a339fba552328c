"""The checkpoint a run selected, as its checkpoint callback recorded it (``checkpoints.json``).

Why a record instead of a file pattern: a run folder may hold ``best-*.ckpt`` files of an
earlier, killed attempt, and the name that sorts last is not the best one. The
``ModelCheckpoint`` that ranks by the monitored metric knows which file it kept and its
score; ``train.py`` writes that down, the loop and sweepers read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from datamodules.training.checkpoints import safe_load

RECORD_FILE = "checkpoints.json"


def selection_record(trainer: pl.Trainer, monitor: str) -> dict[str, Any]:
    """What the checkpoint callbacks kept: the best file by ``monitor``, its score, the last.

    Args:
        trainer: the trainer after ``fit``.
        monitor: the metric the caller selects by (``optimized_metric``); the
            ``ModelCheckpoint`` monitoring it is used, else the first that monitors any.

    Returns:
        ``monitor``, ``mode``, ``best_model_path`` ("" when nothing was ranked),
        ``best_model_score`` (None likewise) and ``last_model_path`` ("" when none).
    """
    callbacks = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
    ranking = [cb for cb in callbacks if cb.monitor]
    chosen = next((cb for cb in ranking if cb.monitor == monitor), ranking[0] if ranking else None)
    record: dict[str, Any] = {
        "monitor": chosen.monitor if chosen else None,
        "mode": chosen.mode if chosen else None,
        "best_model_path": (chosen.best_model_path or "") if chosen else "",
        "best_model_score": None,
        "last_model_path": _last_checkpoint(callbacks),
    }
    if chosen is not None and chosen.best_model_score is not None:
        record["best_model_score"] = float(chosen.best_model_score)
    elif record["best_model_path"]:
        # Under ddp_spawn only the path comes back from the workers; the file has the score.
        record["best_model_score"] = _score_in_file(record["best_model_path"])
    return record


def _last_checkpoint(callbacks: list[ModelCheckpoint]) -> str:
    for callback in callbacks:
        if callback.last_model_path:
            return callback.last_model_path
    for callback in callbacks:  # ddp_spawn: the main process's callbacks saved nothing
        if callback.save_last and callback.dirpath:
            last = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}.ckpt"
            if last.is_file():
                return str(last)
    return ""


def _score_in_file(path: str) -> float | None:
    """The score a ``ModelCheckpoint`` stored in the best file it saved."""
    content = safe_load(path, mmap=True)
    for state in (content.get("callbacks") or {}).values():
        if isinstance(state, Mapping) and state.get("best_model_path") == path:
            score = state.get("best_model_score")
            return None if score is None else float(score)
    return None


def write_selection_record(record: Mapping[str, Any], output_dir: str | Path) -> Path:
    """Write ``checkpoints.json``, with paths inside ``output_dir`` relative to it.

    Why relative: a run folder that is moved or copied keeps pointing at its own files.
    """
    folder = Path(output_dir).resolve()
    written = dict(record)
    for key in ("best_model_path", "last_model_path"):
        if written.get(key):
            path = Path(written[key]).resolve()
            written[key] = (
                str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)
            )
    score = written.get("best_model_score")
    if score is not None and not math.isfinite(score):
        written["best_model_score"] = None  # JSON has no NaN
    target = folder / RECORD_FILE
    target.write_text(json.dumps(written, indent=2, sort_keys=True))
    return target


def best_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint a finished run selected: its best, or its last when none was ranked.

    Raises:
        FileNotFoundError: no record (the run did not finish) or the recorded file is gone.
    """
    run_dir = Path(run_dir)
    record_file = run_dir / RECORD_FILE
    if not record_file.is_file():
        raise FileNotFoundError(
            f"{record_file} does not exist: train.py writes it when a run finishes. If the "
            f"run was killed, resume it (ckpt_path={run_dir}); a run finished by an older "
            "version resumes from its last.ckpt and writes it without training further."
        )
    record = json.loads(record_file.read_text())
    for key in ("best_model_path", "last_model_path"):
        if record.get(key):
            path = run_dir / record[key]  # an absolute recorded path stays absolute
            if not path.is_file():
                raise FileNotFoundError(
                    f"{record_file} names {path} as the {key.split('_')[0]} checkpoint, "
                    "but it is gone."
                )
            return path
    raise FileNotFoundError(f"{record_file} records no checkpoint: did the run train?")
