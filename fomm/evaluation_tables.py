"""What ``python -m fomm.evaluate`` writes: per-video and per-frame tables, and the summary.

Why apart from the evaluation loop: the tables are the resumable record of a run over
thousands of test videos (a row is flushed as each video ends, a rerun skips the listed
videos), and the summary weighs them as the official ``reconstruction.py`` does.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

VIDEO_COLUMNS = [
    "video",
    "frames",
    "l1",
    "occluded_fraction",
    "akd",
    "missing_rate",
    "frames_compared",
    "seconds",
]
FRAME_COLUMNS = ["video", "frame", "l1", "occluded_fraction", "akd"]


@dataclass
class VideoScore:
    """The numbers of one reconstructed video (a row of ``reconstruction.csv``)."""

    video: str
    frames: int
    l1: float
    occluded_fraction: float
    akd: float = float("nan")
    missing_rate: float = float("nan")
    frames_compared: int = 0
    seconds: float = 0.0
    per_frame: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def row(self) -> dict[str, Any]:
        """The CSV row."""
        return {column: getattr(self, column) for column in VIDEO_COLUMNS}


class ResultTables:
    """``reconstruction.csv`` and ``reconstruction_frames.csv``, appended video by video.

    Why: a run over thousands of test videos must not lose finished work when it is
    killed; rows are flushed as each video ends, and a rerun skips the listed videos.
    """

    def __init__(self, output_dir: Path) -> None:
        self.videos_path = output_dir / "reconstruction.csv"
        self.frames_path = output_dir / "reconstruction_frames.csv"
        self.rows = self._read(self.videos_path)
        self.done = {row["video"] for row in self.rows}
        self._drop_unfinished_frames()

    def _drop_unfinished_frames(self) -> None:
        """Remove frame rows of a video whose run was killed before its summary row."""
        frames = self._read(self.frames_path)
        kept = [row for row in frames if row["video"] in self.done]
        if len(kept) != len(frames):
            self.frames_path.unlink()
            self._append(self.frames_path, FRAME_COLUMNS, kept)

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        with path.open(newline="") as file:
            return list(csv.DictReader(file))

    @staticmethod
    def _append(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
        new = not path.is_file()
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def add(self, score: VideoScore) -> None:
        """Append one video's frame rows, then its row (the row marks the video done)."""
        frames = [
            {"video": score.video, "frame": index}
            | {name: float(values[index]) for name, values in score.per_frame.items()}
            for index in range(score.frames)
        ]
        self._append(self.frames_path, FRAME_COLUMNS, frames)
        self._append(self.videos_path, VIDEO_COLUMNS, [score.row()])
        self.rows.append({k: str(v) for k, v in score.row().items()})
        self.done.add(score.video)


def summarize(rows: list[dict[str, Any]], skipped: list[str]) -> dict[str, Any]:
    """Overall numbers from the per-video rows (frame-weighted as the official code)."""

    def column(name: str) -> np.ndarray:
        return np.array([float(row[name]) for row in rows], dtype=np.float64)

    if not rows:
        return {"videos": 0, "skipped": skipped}
    frames = column("frames")
    compared = column("frames_compared")
    akd = column("akd")
    with_face = compared > 0
    summary = {
        "videos": len(rows),
        "frames": int(frames.sum()),
        "l1": float((column("l1") * frames).sum() / frames.sum()),
        "l1_video_mean": float(column("l1").mean()),
        "occluded_fraction": _nan_weighted(column("occluded_fraction"), frames),
        "akd_5point": float((akd[with_face] * compared[with_face]).sum() / compared.sum())
        if compared.sum()
        else float("nan"),
        "missing_rate": float(np.nanmean(column("missing_rate")))
        if np.isfinite(column("missing_rate")).any()
        else float("nan"),
        "skipped": skipped,
    }
    return summary


def _nan_weighted(values: np.ndarray, weights: np.ndarray) -> float:
    keep = np.isfinite(values)
    return (
        float((values[keep] * weights[keep]).sum() / weights[keep].sum())
        if keep.any()
        else math.nan
    )
