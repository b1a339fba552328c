"""The output folder of :mod:`fomm.fakes`: its settings record, resume and results.

``fakes_config.json`` records what the videos depend on (checkpoint, inputs, generation
settings). A rerun with the same record resumes (finished mp4s are kept); another record
is refused, so one folder never mixes fakes of two models or two splits. ``labels.csv``
and ``summary.json`` are rewritten atomically at the end of every run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.video_io import probe_video
from fomm.media import InputError

log = logging.getLogger(__name__)

CONFIG_FILE, LABELS_FILE, SUMMARY_FILE = "fakes_config.json", "labels.csv", "summary.json"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half."""
    temporary = path.with_name(f".{path.name}.partial")
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
    elif output.is_dir() and any(output.iterdir()):
        raise InputError(
            f"output={output} holds files that fomm.fakes did not write (no {CONFIG_FILE}); "
            "pass an empty or new folder"
        )
    return False


def claim_output(output: Path, settings: dict[str, Any], same: bool) -> None:
    """Record the settings in ``output``, first deleting a dataset of other settings."""
    if not same and (output / CONFIG_FILE).is_file():
        log.warning("Deleting %s: generated with other settings (overwrite=true)", output)
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    if not same:
        write_atomically(output / CONFIG_FILE, json.dumps(settings, indent=1))


def finished_labels(output: Path) -> pd.DataFrame | None:
    """The labels of a complete earlier run, else None.

    Complete: every planned video is on disk, and every input skipped as unusable is still
    unusable (a repaired input joins the plan, so the run is redone, keeping finished
    files). Why reuse at all: every ``train.py`` start (and every DDP process) asks for
    the index, and should not load the model and probe every video to learn nothing.
    """
    try:
        summary = json.loads((output / SUMMARY_FILE).read_text())
        labels = pd.read_csv(output / LABELS_FILE, dtype=str, keep_default_na=False)
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


def write_results(output: Path, labels: pd.DataFrame, summary: dict[str, Any]) -> None:
    """Write ``labels.csv`` and ``summary.json`` atomically."""
    write_atomically(output / LABELS_FILE, labels.to_csv(index=False))
    write_atomically(output / SUMMARY_FILE, json.dumps(summary, indent=1))
