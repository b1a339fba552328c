"""The output folder of :mod:`loop.fakes`: its settings record, resume and results.

``fakes_config.json`` records what the videos depend on (checkpoint, inputs, generation
settings). A rerun with the same record resumes (finished mp4s are kept); another record
is refused, so one folder never mixes fakes of two models or two splits. ``labels.csv``
and ``summary.json`` are rewritten atomically at the end of every run; a shard of a
sharded run writes its own (``labels_shard0of2.csv`` ...) and shares the settings record,
so shards started at once on several machines claim the folder once and never delete
each other's videos.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.command_errors import InputError
from datamodules.shards import Shard
from datamodules.video_io import probe_video

log = logging.getLogger(__name__)

CONFIG_FILE, LABELS_FILE, SUMMARY_FILE = "fakes_config.json", "labels.csv", "summary.json"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half.

    The temporary name carries the process id: shards writing the same record at once
    must not write into one temporary file.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    temporary.write_text(text)
    os.replace(temporary, path)


def fingerprint(path: Path) -> dict[str, Any]:
    """Path, size and modification time: a retrained checkpoint at the same path differs."""
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def check_output(output: Path, settings: dict[str, Any], overwrite: bool) -> bool:
    """Whether ``output`` already holds a dataset of these settings; refuse to mix others.

    Nothing is written here, so a mistake found later (a bad checkpoint) leaves no trace.
    """
    config_path = output / CONFIG_FILE
    if config_path.is_file():
        recorded = json.loads(config_path.read_text())
        if recorded == settings:
            return True
        if not overwrite:
            changed = sorted(k for k in settings.keys() | recorded.keys()
                             if settings.get(k) != recorded.get(k))  # fmt: skip
            raise InputError(
                f"output={output} holds a dataset generated with other settings "
                f"({', '.join(changed)} differ); pass another output=, or overwrite=true "
                "to delete it and start over"
            )
    elif output.is_dir() and any(not _is_partial(entry) for entry in output.iterdir()):
        raise InputError(
            f"output={output} holds files that loop.fakes did not write (no {CONFIG_FILE}); "
            "pass an empty or new folder"
        )
    return False


def _is_partial(entry: Path) -> bool:
    """A settings record being written by another shard at this moment."""
    return entry.name.startswith(f".{CONFIG_FILE}.") and entry.name.endswith(".partial")


def claim_output(output: Path, settings: dict[str, Any], same: bool) -> None:
    """Record the settings in ``output``, first deleting a dataset of other settings.

    The record is read again here: another shard may have claimed the folder with these
    settings since :func:`check_output`, and its videos must stay.
    """
    config_path = output / CONFIG_FILE
    if not same and config_path.is_file():
        if json.loads(config_path.read_text()) == settings:
            return
        log.warning("Deleting %s: generated with other settings (overwrite=true)", output)
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    if not same:
        write_atomically(output / CONFIG_FILE, json.dumps(settings, indent=1))


def finished_labels(output: Path, shard: Shard = Shard()) -> pd.DataFrame | None:
    """The labels of a complete earlier run (of this shard), else None.

    Complete: every planned video is on disk, and every input skipped as unusable is still
    unusable (a repaired input joins the plan, so the run is redone, keeping finished
    files). Why reuse at all: every ``train.py`` start (and every DDP process) asks for
    the index, and should not load the model and probe every video to learn nothing.
    """
    try:
        summary = json.loads((output / shard.file(SUMMARY_FILE)).read_text())
        labels = pd.read_csv(output / shard.file(LABELS_FILE), dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return None
    if not summary.get("complete") or summary.get("failed"):
        return None
    if not all((output / path).is_file() for path in labels["path"]):
        return None
    for skipped in summary.get("skipped_inputs", []):
        meta = probe_video(skipped["path"])
        if not meta.error and meta.num_frames > 0:
            return None
    return labels.assign(label=labels["label"].astype(int))


def write_results(
    output: Path, labels: pd.DataFrame, summary: dict[str, Any], shard: Shard = Shard()
) -> None:
    """Write ``labels.csv`` and ``summary.json`` (or a shard's) atomically."""
    write_atomically(output / shard.file(LABELS_FILE), labels.to_csv(index=False))
    write_atomically(output / shard.file(SUMMARY_FILE), json.dumps(summary, indent=1))
