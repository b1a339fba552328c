"""A FOMM deepfake dataset made in shards, on several machines, and joined afterwards.

``python -m loop.fakes ... shard=i num_shards=n`` renders the real videos whose key
hashes to ``i`` (:mod:`datamodules.shards`) and their fakes into the shared output
folder, and lists them in ``labels_shard<i>of<n>.csv`` and ``summary_shard<i>of<n>.json``.
Every shard probes and plans all inputs, so the identity split and the driver picks are
those of one unsharded run; a shard resumes on its own like an unsharded run.

``merge=true`` writes ``labels.csv`` and ``summary.json`` from the shards: the rows of
the unsharded run in its order (by source video; each real before its fakes), and the
counts summed. After it, ``data=fomm_fakes`` and a rerun without shards see a finished
dataset.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.command_errors import InputError
from datamodules.shards import Shard, all_shards
from loop.fakes.output import CONFIG_FILE, LABELS_FILE, SUMMARY_FILE, write_results
from loop.fakes.plan import SPLITS, input_key_of

log = logging.getLogger(__name__)

_SUMMED = ("generated_now", "already_done", "frames_generated", "seconds")
_SHARED = ("identities", "skipped_inputs", "checkpoint", "model_frame_size", "device", "settings")


def run_shard(shard: int, num_shards: int, overwrite: bool) -> Shard:
    """The shard a run renders, checked.

    Raises:
        InputError: a shard outside ``0 .. num_shards - 1``, or ``overwrite=true`` with
            shards (it would delete the folder the other shards are writing into).
    """
    try:
        part = Shard(int(shard), int(num_shards))
    except (TypeError, ValueError) as error:
        raise InputError(str(error)) from error
    if part.sharded and overwrite:
        raise InputError(
            "overwrite=true would delete the output folder, which the other shards share; "
            "delete it yourself before starting the shards"
        )
    return part


def _read_shard(output: Path, shard: Shard) -> tuple[pd.DataFrame, dict[str, Any]]:
    summary_file = output / shard.file(SUMMARY_FILE)
    if not summary_file.is_file():
        raise InputError(
            f"{summary_file} does not exist: {shard} has not finished; run python -m loop.fakes "
            f"with the same arguments and shard={shard.index} num_shards={shard.count} (it "
            "resumes), then merge again"
        )
    summary = json.loads(summary_file.read_text())
    if summary.get("num_shards") != shard.count:
        raise InputError(
            f"{summary_file} was written by a run with num_shards={summary.get('num_shards')}, "
            f"not {shard.count}; merge with the num_shards= the shards ran with"
        )
    labels = pd.read_csv(output / shard.file(LABELS_FILE), dtype=str, keep_default_na=False)
    return labels.assign(label=labels["label"].astype(int)), summary


def _unsharded_order(labels: pd.DataFrame) -> pd.DataFrame:
    """The rows in the order of one run's plan: by source key, each real before its fakes.

    A source's rows all come from one shard, in plan order, and the sort is stable, so
    its fakes keep their order.
    """
    real_ids = labels["original"].where(labels["label"] == 1, labels["video"])
    keys = [input_key_of(real) for real in real_ids]
    kinds = labels["label"].tolist()
    order = sorted(range(len(labels)), key=lambda row: (keys[row], kinds[row]))
    return labels.iloc[order].reset_index(drop=True)


def _merged_summary(summaries: list[dict[str, Any]], counts: list[dict]) -> dict[str, Any]:
    videos: dict[str, dict[str, int]] = defaultdict(lambda: {"real": 0, "fake": 0})
    for summary in summaries:
        for split in SPLITS:
            for kind in ("real", "fake"):
                videos[split][kind] += summary["videos"][split][kind]
    return {
        "complete": all(summary["complete"] for summary in summaries),
        "videos": {split: videos[split] for split in SPLITS},
        "failed": [item for summary in summaries for item in summary["failed"]],
        "sources_without_driver": sorted(
            key for summary in summaries for key in summary["sources_without_driver"]
        ),
        **{key: sum(summary[key] for summary in summaries) for key in _SUMMED},
        # Every shard probes every input: these are the same in all of them.
        **{key: summaries[0][key] for key in _SHARED},
        "merged_shards": len(summaries),
        "shards": counts,
    }


def merge_fakes(output: str | os.PathLike, num_shards: int) -> pd.DataFrame:
    """Write ``labels.csv`` and ``summary.json`` of ``output`` from its shards' tables.

    Args:
        output: the dataset folder the shards wrote into.
        num_shards: how many shards there were (at least 2).

    Returns:
        The merged labels, ``path`` relative to ``output``.

    Raises:
        InputError: ``output`` holds no generated dataset, a shard has not finished, or
            its tables come from a run with another number of shards.
    """
    output = Path(str(output)).expanduser()
    if int(num_shards) < 2:
        raise InputError(f"merge=true needs num_shards >= 2 (the shards to join), got {num_shards}")
    if not (output / CONFIG_FILE).is_file():
        raise InputError(f"output={output} holds no dataset of loop.fakes (no {CONFIG_FILE})")
    parts, summaries, counts = [], [], []
    for shard in all_shards(int(num_shards)):
        labels, summary = _read_shard(output, shard)
        parts.append(labels)
        summaries.append(summary)
        counts.append(
            {
                "shard": shard.index,
                "videos": len(labels),
                "failed": len(summary["failed"]),
                "complete": summary["complete"],
            }
        )
    labels = _unsharded_order(pd.concat(parts, ignore_index=True))
    summary = _merged_summary(summaries, counts)
    write_results(output, labels, summary)
    log.info(
        "Merged %d shards into %s: %d videos; %d inputs skipped (unreadable or empty), %d "
        "videos failed (%s)",
        len(summaries),
        output,
        len(labels),
        len(summary["skipped_inputs"]),
        len(summary["failed"]),
        ", ".join(f"shard {c['shard']}: {c['failed']}" for c in counts),
    )
    for failure in summary["failed"]:
        log.warning("Failed (rerun its shard to retry): %s", failure["reason"])
    return labels
