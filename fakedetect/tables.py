"""The CSV tables a test run leaves behind: per video, per frame, and the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import torch


def write_test_tables(result: dict[str, Any], names: dict[int, str], folder: Path) -> Path:
    """Write ``videos.csv``, ``frames.csv`` and ``metrics.csv`` into ``folder``.

    Args:
        result: what :class:`fakedetect.metrics.DetectionScores` computed.
        names: video id of every video key.
        folder: where the tables go (created).

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)

    def video_names(keys: torch.Tensor) -> list[str]:
        return [names.get(int(key), str(int(key))) for key in keys]

    videos, frames, metrics = result["videos"], result["frames"], result["metrics"]
    pd.DataFrame(
        {
            "video": video_names(videos["video_key"]),
            "label": videos["label"].long().numpy(),
            "score": videos["score"].numpy(),
            "logit": videos["logit"].numpy(),
            "frames": videos["frames"].numpy(),
        }
    ).sort_values("video").to_csv(folder / "videos.csv", index=False)
    pd.DataFrame(
        {
            "video": video_names(frames["video_key"]),
            "frame": frames["frame"].numpy(),
            "face_rank": frames["face_rank"].numpy(),
            "label": frames["label"].long().numpy(),
            "logit": frames["logit"].numpy(),
        }
    ).sort_values(["video", "frame", "face_rank"]).to_csv(folder / "frames.csv", index=False)
    rows = sorted({name.rsplit("_", 1)[0] for name in metrics})
    pd.DataFrame(
        {
            "metric": rows,
            "frame": [float(metrics[f"{row}_frame"]) for row in rows],
            "video": [float(metrics[f"{row}_video"]) for row in rows],
        }
    ).to_csv(folder / "metrics.csv", index=False)
    return folder
