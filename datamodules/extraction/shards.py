"""Joining the shards of a face extraction into the tables one process would have written.

``python -m datamodules.extraction videos=... output=DIR shard=i num_shards=n`` leaves, per
shard, ``faces_shard<i>of<n>.csv``, ``videos_shard<i>of<n>.csv`` and
``summary_shard<i>of<n>.json`` beside the shared ``crops/`` and ``extract_config.json``.
The merge (the same command with ``merge=true``) writes ``faces.csv`` and ``videos.csv``
with the rows a single ``workers=0`` run writes, in its order: the videos in the order of
the video list, each video's faces in frame order. So nothing downstream (the data
modules, prediction, a later unsharded rerun that resumes) can tell the difference.

The merge refuses while a shard has videos left to do: a partial index would silently
train on less data. Videos without a face and unreadable ones are counted per shard,
summed, and named, as one run names them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.extraction.log import (
    FACES_COLUMNS,
    FINISHED,
    OPTIONAL_FACES_COLUMNS,
    STATUS_COLUMNS,
    ExtractionLog,
    finished_tables,
    log_bad_videos,
    write_json_atomically,
    write_table_atomically,
)
from datamodules.shards import Shard, all_shards
from datamodules.video_list import list_videos

log = logging.getLogger(__name__)


def _shard_rows(
    output_dir: Path, shard: Shard, videos: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One shard's status rows (every processed video) and the face rows of finished ones."""
    status_file = output_dir / shard.file("videos.csv")
    if not status_file.is_file():
        raise FileNotFoundError(
            f"{status_file} does not exist: {shard} has not run. Run it with the same "
            f"videos= and output= and shard={shard.index} num_shards={shard.count}."
        )
    raw_status = ExtractionLog.read_status(output_dir, shard)
    _, faces = finished_tables(raw_status, ExtractionLog.read_faces(output_dir, shard))
    status = raw_status.drop_duplicates("video", keep="last")
    strangers = sorted(set(status["video"]) - set(videos[shard.select(videos)]))
    if strangers:
        raise ValueError(
            f"{status_file} lists videos that are not {shard} of the given videos= "
            f"({', '.join(strangers[:5])}); merge with the videos= and num_shards= the "
            "shards ran with."
        )
    return status, faces


def _shard_counts(shard: Shard, listed: int, status: pd.DataFrame, faces: pd.DataFrame) -> dict:
    done = status["status"].isin(FINISHED)
    return {
        "shard": shard.index,
        "videos": listed,
        "ok": int((status["status"] == "ok").sum()),
        "no_face": int((status["status"] == "no_face").sum()),
        "unreadable": int((~done).sum()),
        "not_processed": listed - len(status),
        "faces": len(faces),
    }


def merge_extraction(
    videos: pd.DataFrame | str | os.PathLike,
    output_dir: str | os.PathLike,
    num_shards: int,
    root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Write ``faces.csv``, ``videos.csv`` and ``summary.json`` of ``output_dir`` from its shards.

    Args:
        videos: the video list the shards ran on (as for ``extract_faces``): it fixes
            the order of the rows.
        output_dir: the extraction folder the shards wrote into.
        num_shards: how many shards there were.
        root: what relative paths of an index are relative to.

    Returns:
        The merged summary: totals, and per shard the videos, faces, videos without a
        face, unreadable videos.

    Raises:
        FileNotFoundError: a shard has not run.
        ValueError: fewer than 2 shards, a shard has videos left to do, or its tables do
            not match the given videos and number of shards.
    """
    if int(num_shards) < 2:
        raise ValueError(
            f"merge=true needs num_shards >= 2 (the shards to join), got {num_shards}."
        )
    output_dir = Path(output_dir)
    table = list_videos(videos, root)
    position = pd.Series(range(len(table)), index=table["video"].to_numpy())
    statuses, faces_parts, counts = [], [], []
    for shard in all_shards(int(num_shards)):
        status, faces = _shard_rows(output_dir, shard, table["video"])
        statuses.append(status)
        faces_parts.append(faces)
        counts.append(_shard_counts(shard, sum(shard.select(table["video"])), status, faces))
    unfinished = [c for c in counts if c["not_processed"]]
    if unfinished:
        described = "; ".join(
            f"shard {c['shard']}: {c['not_processed']} of {c['videos']} videos" for c in unfinished
        )
        raise ValueError(
            f"Not merged: videos not processed yet ({described}). Rerun those shards with "
            f"shard=<i> num_shards={num_shards} (they resume), then merge again."
        )
    status = pd.concat(statuses, ignore_index=True)
    status = status.iloc[position[status["video"]].to_numpy().argsort(kind="stable")][
        STATUS_COLUMNS
    ]
    # A video's face rows keep their order (frames, then ranks, as extracted).
    faces = pd.concat(faces_parts, ignore_index=True)
    order = position[faces["video"]].to_numpy().argsort(kind="stable")
    faces = faces.iloc[order][FACES_COLUMNS + OPTIONAL_FACES_COLUMNS]
    write_table_atomically(output_dir / "faces.csv", faces)
    write_table_atomically(output_dir / "videos.csv", status)

    no_face = status.loc[status["status"] == "no_face", "video"].tolist()
    failed = status[~status["status"].isin(FINISHED)]
    unreadable = dict(zip(failed["video"], failed["message"], strict=True))
    summary = {
        "videos": len(table),
        "merged_shards": int(num_shards),
        "faces_found": len(faces),
        "no_face": no_face,
        "unreadable": unreadable,
        "not_processed": 0,
        "shards": counts,
    }
    write_json_atomically(output_dir / "summary.json", summary)
    per_shard = ", ".join(
        f"shard {c['shard']}: {c['videos']} videos, {c['no_face']} no face, "
        f"{c['unreadable']} unreadable"
        for c in counts
    )
    log.info(
        "Merged %d shards into %s: %d videos, %d faces; %d videos without a face, %d "
        "unreadable or failed (%s)",
        num_shards,
        output_dir,
        len(table),
        len(faces),
        len(no_face),
        len(unreadable),
        per_shard,
    )
    log_bad_videos(no_face, unreadable)
    return summary
