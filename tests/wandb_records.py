"""Read back what an offline wandb run wrote: its ``.wandb`` records and media files.

The ``.wandb`` file is a log of protobuf records in 32 KiB blocks (the LevelDB log
layout): a 7-byte file header, then per chunk a 4-byte checksum, a 2-byte little-endian
length, a 1-byte type (1 full, 2 first, 3 middle, 4 last) and the payload; a block's
last bytes are padding when fewer than a chunk header remain. wandb itself no longer
ships a Python reader, so the dashboard tests parse it here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

_BLOCK = 32768
_FILE_HEADER = 7
_CHUNK_HEADER = 7


def records(path: Path) -> list[Any]:
    """Every ``Record`` of a ``.wandb`` file, in order."""
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a wandb run file")
    found, pending, position = [], b"", _FILE_HEADER
    while position + _CHUNK_HEADER <= len(data):
        left_in_block = _BLOCK - position % _BLOCK
        if left_in_block < _CHUNK_HEADER:
            position += left_in_block
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        start = position + _CHUNK_HEADER
        pending += data[start : start + length]
        position = start + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            found.append(record)
            pending = b""
    return found


def run_dirs(root: Path, timeout: float = 20.0) -> list[Path]:
    """The offline run folders under ``root``, oldest first, once each run file is complete.

    Why the wait: ``wandb.finish()`` returns before wandb's service process has flushed the
    last records, so a test reading right after it can see a truncated file; a finished
    run's file ends with an ``exit`` record.
    """
    folders = sorted(root.rglob("offline-run-*"))
    deadline = time.monotonic() + timeout
    for folder in folders:
        (path,) = folder.glob("*.wandb")
        while not any(r.WhichOneof("record_type") == "exit" for r in records(path)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} has no exit record after {timeout} s")
            time.sleep(0.1)
    return folders


def run_info(run_dir: Path) -> dict[str, str]:
    """The run's group, display name and job type."""
    (path,) = run_dir.glob("*.wandb")
    for record in records(path):
        if record.WhichOneof("record_type") == "run":
            run = record.run
            return {"group": run.run_group, "name": run.display_name, "job_type": run.job_type}
    raise AssertionError(f"no run record in {path}")


def history(run_dir: Path) -> list[dict[str, Any]]:
    """Every logged row of the run as ``{key: decoded value}`` (nested keys as nested dicts)."""
    (path,) = run_dir.glob("*.wandb")
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        row: dict[str, Any] = {}
        for item in record.history.item:
            keys = [item.key] if item.key else list(item.nested_key)
            target = row
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = json.loads(item.value_json)
        rows.append(row)
    return rows


def logged(run_dir: Path) -> dict[str, Any]:
    """The last value of every key the run logged."""
    merged: dict[str, Any] = {}
    for row in history(run_dir):
        merged.update(row)
    return merged
