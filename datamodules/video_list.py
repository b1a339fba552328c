"""What a command's ``videos=`` option names, as one ``video, path`` table.

Extraction, prediction, deepfake generation and the studies all take a video, a folder
of videos or a video index CSV; reading it in one place gives every command the same
ids (the path relative to the folder, without extension) and the same errors.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from datamodules.video_io import VIDEO_EXTENSIONS


def list_videos(
    videos: pd.DataFrame | str | os.PathLike, root: str | os.PathLike | None = None
) -> pd.DataFrame:
    """The ``video, path`` table of what to extract, with absolute paths.

    Args:
        videos: an index DataFrame (``path`` or ``file``, optional ``video``), or the path of a
            video, a folder (searched recursively for video files) or an index CSV.
        root: what relative paths are relative to (default: the CSV's folder, the
            searched folder, or the working directory).

    Raises:
        FileNotFoundError: the path does not exist or a folder holds no video.
        ValueError: an index lacks ``path`` or repeats a video id.
    """
    if isinstance(videos, pd.DataFrame):
        table, base = videos, Path(root or ".")
    else:
        source = Path(videos)
        if not source.exists():
            raise FileNotFoundError(
                f"videos={source} does not exist; give a video file, a folder of videos "
                "or a video index CSV."
            )
        if source.is_dir():
            files = sorted(
                p for p in source.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            )
            if not files:
                raise FileNotFoundError(
                    f"No video files ({', '.join(VIDEO_EXTENSIONS)}) under {source}."
                )
            table = pd.DataFrame({"path": [p.relative_to(source).as_posix() for p in files]})
            base = source
        elif source.suffix.lower() == ".csv":
            table = pd.read_csv(source, dtype=str, keep_default_na=False)
            base = Path(root) if root else source.parent
        else:
            table, base = pd.DataFrame({"path": [source.name]}), source.parent
    if "path" not in table.columns and "file" in table.columns:
        table = table.rename(columns={"file": "path"})
    if "path" not in table.columns:
        raise ValueError(
            f"The video index has no 'path' column (columns: {', '.join(map(str, table.columns))})."
        )
    paths = [Path(p) if Path(p).is_absolute() else base / p for p in table["path"].astype(str)]
    if "video" in table.columns:
        ids = table["video"].astype(str).tolist()
    else:
        ids = [Path(p).with_suffix("").as_posix() for p in table["path"].astype(str)]
    out = pd.DataFrame({"video": ids, "path": [str(p.resolve()) for p in paths]})
    repeated = out["video"][out["video"].duplicated()].unique().tolist()
    if repeated:
        raise ValueError(f"Video ids repeat in the index: {', '.join(repeated[:10])}.")
    return out
