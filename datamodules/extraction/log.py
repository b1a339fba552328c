"""The bookkeeping of a face extraction folder: what to extract, what is finished, the summary.

Only the parent process of an extraction writes here. For every finished video it
appends the face rows to ``faces.csv`` first and the status row to ``videos.csv``
second, flushing both, so after a kill at any moment a video either has its status row
and all its face rows, or is unfinished: at the next start the tables are cleaned (rows
of unfinished videos and a torn last line dropped) and rewritten atomically, and the
unfinished videos are extracted again. A shard of a sharded extraction
(:mod:`datamodules.shards`) keeps the same bookkeeping in tables of its own
(``faces_shard0of2.csv`` ...), joined by :mod:`datamodules.extraction.shards`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from datamodules.face_landmarks import LANDMARK_COLUMNS
from datamodules.shards import Shard

log = logging.getLogger(__name__)

FACES_COLUMNS = [
    "video",
    "frame",
    "path",
    "left",
    "top",
    "right",
    "bottom",
    "confidence",
    "face_rank",
]
# Optional: empty where unknown, absent from tables written before they existed.
OPTIONAL_FACES_COLUMNS = list(LANDMARK_COLUMNS)
STATUS_COLUMNS = [
    "video",
    "path",
    "status",
    "faces",
    "frames_sampled",
    "frames_with_face",
    "num_frames",
    "height",
    "width",
    "message",
]
FINISHED = ("ok", "no_face")
_MAX_LISTED = 20


def _read_table(path: Path, columns: list[str], optional: list[str] = ()) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=[*columns, *optional])
    table = pd.read_csv(
        path, dtype={"video": str, "path": str, "message": str}, keep_default_na=False,
        on_bad_lines="skip",
    )  # fmt: skip
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path} is not an extraction table (missing {', '.join(missing)}); choose another "
            "output folder or pass overwrite=true to start over."
        )
    numeric = [c for c in columns if c not in ("video", "path", "status", "message")]
    table = table.reindex(columns=[*columns, *optional])
    for column in [*numeric, *optional]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    return table.dropna(subset=numeric)


def _has_columns(path: Path, columns: list[str]) -> bool:
    """Whether a table's header names every one of ``columns`` (True for a missing table)."""
    if not path.is_file() or path.stat().st_size == 0:
        return True
    with path.open(newline="") as handle:
        header = handle.readline().strip().split(",")
    return set(columns) <= set(header)


def finished_tables(
    raw_status: pd.DataFrame, raw_faces: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The status rows of finished videos and only their face rows, each row once.

    Why: a run killed between a video's face rows and its status row leaves face rows
    of an unfinished video; they are dropped, and the video is extracted again.
    """
    status = raw_status.drop_duplicates("video", keep="last")
    status = status[status["status"].isin(FINISHED)]
    faces = raw_faces[raw_faces["video"].isin(status["video"])].drop_duplicates(
        ["video", "frame", "face_rank"], keep="last"
    )
    return status, faces.astype({"frame": int, "face_rank": int})


def log_bad_videos(no_face: list[str], unreadable: dict[str, str]) -> None:
    """Name the videos without a face and the unreadable ones (the first few of each)."""
    if no_face:
        listed = ", ".join(no_face[:_MAX_LISTED])
        more = len(no_face) - _MAX_LISTED
        log.warning("No face found in: %s%s", listed, f" ... and {more} more" if more > 0 else "")
    for video, reason in list(unreadable.items())[:_MAX_LISTED]:
        log.warning("Unreadable (retried on the next run): %s", reason or video)


def write_json_atomically(path: Path, content: Any) -> None:
    """Write JSON through a temporary file of this process, so no reader sees half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(content, indent=2))
    os.replace(temporary, path)


def _ends_cleanly(path: Path) -> bool:
    """Whether a table exists and its last line is complete (ends with a newline)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def write_table_atomically(path: Path, table: pd.DataFrame) -> None:
    """Replace a table in one step, so a kill never leaves half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_csv(temporary, index=False)
    os.replace(temporary, path)


def _append(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        return
    with path.open("a", newline="") as handle:
        pd.DataFrame(rows, columns=columns).to_csv(handle, index=False, header=handle.tell() == 0)
        handle.flush()
        os.fsync(handle.fileno())


class ExtractionLog:
    """The tables of one extraction folder, cleaned on open and appended per video.

    Args:
        output_dir: the extraction folder.
        settings: the crop settings; a folder extracted with others is not mixed.
        overwrite: delete the earlier tables and crops first.
        shard: the part of the videos this run extracts; a shard keeps its own tables
            (``faces_shard0of2.csv`` ...) beside the shared crops and settings.

    Raises:
        ValueError: the folder was extracted with other crop settings, or a sharded
            run asks to overwrite (the folder is shared with the other shards).
    """

    def __init__(
        self,
        output_dir: Path,
        settings: dict[str, Any],
        overwrite: bool = False,
        shard: Shard = Shard(),
    ) -> None:
        self.dir = Path(output_dir)
        self.shard = shard
        self.faces_csv = self.dir / shard.file("faces.csv")
        self.status_csv = self.dir / shard.file("videos.csv")
        self.summary_json = self.dir / shard.file("summary.json")
        self.config_json = self.dir / "extract_config.json"
        if overwrite and shard.sharded:
            raise ValueError(
                f"overwrite=true would delete {self.dir}, which the other shards share; "
                "delete the folder yourself before starting the shards."
            )
        if overwrite:
            for stale in (self.faces_csv, self.status_csv, self.config_json, self.summary_json):
                stale.unlink(missing_ok=True)
            shutil.rmtree(self.dir / "crops", ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._check_settings(settings)
        raw_status = _read_table(self.status_csv, STATUS_COLUMNS)
        raw_faces = _read_table(self.faces_csv, FACES_COLUMNS, OPTIONAL_FACES_COLUMNS)
        status, faces = finished_tables(raw_status, raw_faces)
        # Rewrite only what a killed or failed run left unclean (a large table is not
        # rewritten at every start-up of a training run), or a table written before the
        # landmark columns existed.
        if len(status) != len(raw_status) or not _ends_cleanly(self.status_csv):
            write_table_atomically(self.status_csv, status)
        if (
            len(faces) != len(raw_faces)
            or not _ends_cleanly(self.faces_csv)
            or not _has_columns(self.faces_csv, OPTIONAL_FACES_COLUMNS)
        ):
            write_table_atomically(self.faces_csv, faces)
        self.finished: set[str] = set(status["video"])

    def _check_settings(self, settings: dict[str, Any]) -> None:
        if self.config_json.is_file():
            before = json.loads(self.config_json.read_text())
            changed = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
            if changed:
                described = ", ".join(f"{k}: {old} -> {new}" for k, (old, new) in changed.items())
                raise ValueError(
                    f"{self.dir} was extracted with other settings ({described}); use another "
                    "output folder, or overwrite=true to extract everything again."
                )
        else:
            write_json_atomically(self.config_json, settings)

    def start_run(self, total: int, already_done: int) -> None:
        """Reset the counters of this run."""
        self.total, self.already_done = total, already_done
        self.run_videos, self.run_faces = 0, 0
        self.run_no_face: list[str] = []
        self.run_unreadable: dict[str, str] = {}
        self.started = time.time()
        if already_done:
            log.info("%d of %d videos already extracted in %s", already_done, total, self.dir)

    def add(self, result: Any) -> None:
        """Record one video: face rows first, then its status row."""
        _append(self.faces_csv, result.rows, FACES_COLUMNS + OPTIONAL_FACES_COLUMNS)
        _append(self.status_csv, [result.status_row()], STATUS_COLUMNS)
        self.run_videos += 1
        self.run_faces += len(result.rows)
        if result.status == "no_face":
            self.run_no_face.append(result.video)
        elif result.status not in FINISHED:  # unreadable, or an error on that video
            self.run_unreadable[result.video] = result.message
        if result.status in FINISHED:
            self.finished.add(result.video)

    def finish_run(self) -> dict[str, Any]:
        """Write ``summary.json``, log the totals, and return them."""
        summary = {
            "videos": self.total,
            "done_this_run": self.run_videos - len(self.run_unreadable),
            "skipped_already_done": self.already_done,
            "faces_found": self.run_faces,
            "no_face": self.run_no_face,
            "unreadable": self.run_unreadable,
            "not_processed": self.total - self.already_done - self.run_videos,
            "seconds": round(time.time() - self.started, 1),
        }
        if self.shard.sharded:
            summary |= {"shard": self.shard.index, "num_shards": self.shard.count}
        write_json_atomically(self.summary_json, summary)
        log.info(
            "Extraction in %s%s: %d videos done, %d skipped (already done), %d faces found, "
            "%d videos without a face, %d unreadable or failed, %.1f s",
            self.dir,
            f" ({self.shard})" if self.shard.sharded else "",
            summary["done_this_run"],
            self.already_done,
            self.run_faces,
            len(self.run_no_face),
            len(self.run_unreadable),
            summary["seconds"],
        )
        log_bad_videos(self.run_no_face, self.run_unreadable)
        if summary["not_processed"]:
            log.warning(
                "Interrupted: %d videos not processed; rerun to continue.", summary["not_processed"]
            )
        return summary

    @staticmethod
    def read_faces(output_dir: Path, shard: Shard = Shard()) -> pd.DataFrame:
        """``faces.csv`` of an extraction folder, or a shard's (empty table when absent)."""
        faces_csv = Path(output_dir) / shard.file("faces.csv")
        return _read_table(faces_csv, FACES_COLUMNS, OPTIONAL_FACES_COLUMNS).astype(
            {"frame": int, "face_rank": int}
        )

    @staticmethod
    def read_status(output_dir: Path, shard: Shard = Shard()) -> pd.DataFrame:
        """``videos.csv`` of an extraction folder, or a shard's: a row per processed video."""
        return _read_table(Path(output_dir) / shard.file("videos.csv"), STATUS_COLUMNS)
