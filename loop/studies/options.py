"""What every study takes besides its own settings: which videos, how they are read, where to.

The four studies share these options; Hydra gives them once (``options`` in
``conf/studies.yaml``, ``options.max_frames=32`` on the command line) and each study
function takes the one :class:`StudyOptions` object, next to the settings that are its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from loop.studies.inputs import (
    ModelFrames,
    VideoList,
    frame_size,
    labelled_video_table,
    read_model_frames,
    video_table,
)
from loop.studies.report import StudyReport


@dataclass(frozen=True)
class StudyOptions:
    """The options every study shares.

    Attributes:
        videos: a folder, a file, a video index CSV or a list of files (the robustness
            study: a labelled index, or a folder with its labels CSV).
        output_dir: where the tables and plots go.
        max_videos: use the first this many videos (by id; robustness: of each label).
        max_frames: use the first this many frames of each video.
        size: the square side frames are fitted to; None: the model's ``frame_shape``,
            else the first video's (the FOMM studies).
        fit: how non-square videos reach the square: ``center_crop``, ``resize``, ``pad``.
        batch_size: frames per forward pass of the animation model.
        overwrite: discard an earlier table in ``output_dir`` instead of resuming it.
        progress: show a progress bar.
    """

    videos: VideoList
    output_dir: str | os.PathLike
    max_videos: int | None = None
    max_frames: int | None = None
    size: int | None = None
    fit: str = "center_crop"
    batch_size: int = 32
    overwrite: bool = False
    progress: bool = True

    def video_table(self) -> pd.DataFrame:
        """The ``video, path, identity`` table of the videos to study (see :func:`video_table`)."""
        return video_table(self.videos, self.max_videos)

    def labelled_video_table(
        self, labels_csv: str | os.PathLike | None = None, split: str | None = None
    ) -> pd.DataFrame:
        """The ``video, path, label`` table of real and fake videos for the detector."""
        return labelled_video_table(self.videos, labels_csv, split, self.max_videos)

    def frame_side(self, networks: torch.nn.Module, table: pd.DataFrame) -> int:
        """The square side frames are fitted to (``size``, the model's, or the first video's)."""
        return frame_size(networks, table["path"].iloc[0], self.size)

    def read_frames(self, path: str | os.PathLike, side: int | None) -> ModelFrames:
        """The first ``max_frames`` frames of a video, fitted to ``side`` (None: as stored)."""
        return read_model_frames(path, side, self.fit, self.max_frames)

    def open_report(
        self,
        study: str,
        parameters: Mapping[str, Any],
        columns: Sequence[str],
        unit_column: str,
        text_columns: Iterable[str] = (),
    ) -> StudyReport:
        """The study's resumable output folder (see :class:`StudyReport`)."""
        return StudyReport(
            study, self.output_dir, parameters, columns, unit_column, text_columns, self.overwrite
        )

    def pending(self, report: StudyReport, table: pd.DataFrame) -> Iterator[pd.Series]:
        """The rows of ``table`` the report has not finished, with a progress bar if asked."""
        return report.pending(table, self.progress)
