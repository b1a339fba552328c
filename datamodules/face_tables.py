"""The two tables a face dataset is made of: the video index and the extraction's faces.

:class:`datamodules.faces.FaceDataModule` reads the index (a CSV or a builder), checks it,
and joins it with ``faces.csv`` into the crops of each split. Apart from the DataModule
because this is where bad input shows (a missing file or column, labels other than 0/1,
a leaking split, videos without faces), and each message names the file and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.extraction.log import FINISHED, ExtractionLog
from datamodules.indexes.common import split_leaks
from datamodules.video_io import sample_indices

log = logging.getLogger(__name__)

INDEX_COLUMNS = ("video", "label", "split")
FACES_COLUMNS = ("video", "frame", "path", "face_rank")
SPLITS = ("train", "val", "test")


def read_video_index(index: str | Path | Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The video index from a CSV or a builder, its columns and labels checked.

    A split that leaks (an original or a person in two splits) is warned about, not
    refused: a user's own index may do so knowingly.

    Raises:
        FileNotFoundError: the CSV does not exist.
        ValueError: a missing column, or labels other than 0 and 1.
    """
    if callable(index):
        table = index()
        source = getattr(index, "func", index)
        where = f"the index built by {getattr(source, '__qualname__', source)}"
    else:
        path = Path(index)
        if not path.is_file():
            raise FileNotFoundError(
                f"Video index {path} does not exist: build it with the dataset's index "
                "builder (datamodules.indexes) or point data.index at the CSV."
            )
        table = pd.read_csv(path, dtype={"video": str}, keep_default_na=False)
        where = str(path)
    missing = [column for column in INDEX_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{where} lacks the column(s) {', '.join(missing)}.")
    table = table.assign(video=table["video"].astype(str), label=table["label"].astype(int))
    leak = split_leaks(table)
    if leak:
        log.warning(
            "%s: %s: validation and test then share videos or people with training, "
            "and the numbers they give are optimistic.",
            where,
            leak,
        )
    bad_labels = sorted(set(table["label"].unique()) - {0, 1})
    if bad_labels:
        raise ValueError(f"{where} has labels {bad_labels}; they must be 0 (real) or 1 (fake).")
    return table


def unfinished_videos(faces_dir: Path, videos: Iterable[str]) -> list[str]:
    """The videos an extraction into ``faces_dir`` has not finished.

    A video where no face was found is finished too (its status row in ``videos.csv``
    says so): without that, every run would start the extraction again for it.
    """
    done: set[str] = set()
    if (faces_dir / "faces.csv").is_file():
        faces = pd.read_csv(faces_dir / "faces.csv", usecols=["video"], dtype={"video": str})
        done |= set(faces["video"])
    if (faces_dir / "videos.csv").is_file():
        status = ExtractionLog.read_status(faces_dir)
        done |= set(status.loc[status["status"].isin(FINISHED), "video"].astype(str))
    return [video for video in videos if video not in done]


def evenly_spaced_frames(table: pd.DataFrame, frames_per_video: int | None) -> pd.DataFrame:
    """Keep ``frames_per_video`` frames of each video, spread evenly from its first to its last.

    Every face of a kept frame stays; videos with fewer frames keep them all.
    """
    if frames_per_video is None:
        return table
    if frames_per_video < 1:
        raise ValueError(f"frames_per_video={frames_per_video} must be >= 1 (or null for all).")
    kept = []
    for _, frames in table.groupby("video", sort=False)["frame"]:
        unique = np.unique(frames.to_numpy())
        unique = unique[sample_indices(len(unique), frames_per_video)]
        kept.append(frames.index[np.isin(frames.to_numpy(), unique)])
    return table.loc[np.concatenate(kept)] if kept else table.iloc[:0]


def join_faces(
    faces_csv: Path,
    index: pd.DataFrame,
    max_faces_per_frame: int,
    frames_per_video: Mapping[str, int | None],
    extraction_hint: str,
) -> dict[str, pd.DataFrame]:
    """The face crops of each split: faces joined with the index, subsampled per video.

    Args:
        faces_csv: the extraction's faces table.
        index: the checked video index (:func:`read_video_index`).
        max_faces_per_frame: faces kept per frame, most confident first.
        frames_per_video: per split, frames kept per video (evenly spaced; None: all).
        extraction_hint: how to extract the faces, for the messages.

    Raises:
        FileNotFoundError: no faces table.
        ValueError: the faces table lacks a column.
    """
    if not faces_csv.is_file():
        raise FileNotFoundError(f"{faces_csv} does not exist: {extraction_hint}.")
    faces = pd.read_csv(faces_csv, dtype={"video": str, "path": str})
    missing = [column for column in FACES_COLUMNS if column not in faces.columns]
    if missing:
        raise ValueError(f"{faces_csv} lacks the column(s) {', '.join(missing)}.")
    without_faces = sorted(set(index["video"]) - set(faces["video"]))
    if without_faces:
        log.warning(
            "%d of %d videos of the index have no faces in %s and are left out (e.g. %s); "
            "if extraction did not finish, %s.",
            len(without_faces),
            len(index),
            faces_csv,
            ", ".join(without_faces[:5]),
            extraction_hint,
        )
    faces = faces[faces["face_rank"] < max_faces_per_frame]
    table = faces.merge(index[["video", "label", "split"]], on="video", how="inner")
    splits = {}
    for split in SPLITS:
        rows = table[table["split"] == split].sort_values(["video", "frame", "face_rank"])
        splits[split] = evenly_spaced_frames(rows, frames_per_video[split])
    counts = ", ".join(
        f"{split} {len(rows)} faces / {rows['video'].nunique()} videos"
        for split, rows in splits.items()
    )
    log.info("Face crops: %s", counts)
    return splits
