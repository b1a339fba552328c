"""Rendering the videos of a FOMM deepfake dataset: a re-encoded real or an animated fake.

Reals and fakes go through the same fitting to the model's size and the same H.264
encoder settings (:mod:`loop.fakes`), so they differ only in what FOMM did to the pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from datamodules.video_io import VIDEO_EXTENSIONS
from datamodules.video_writer import VideoWriter
from fomm.animators import make_animator, resolve_mode
from fomm.media import (
    autocast_dtype,
    fit_frames,
    iter_chunks,
    open_input_video,
    to_tensor,
    video_fps,
)
from loop.fakes.plan import Job


def _audio_of(path: Path) -> Path | None:
    return path if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS else None


class Renderer:
    """Writes the jobs' mp4s with one loaded model and one set of encoder settings."""

    def __init__(self, networks: torch.nn.Module, size: int, options: dict[str, Any]) -> None:
        self.networks = networks
        self.size = size
        self.options = options
        self.autocast = autocast_dtype(options["precision"])

    def _frame_range(self, num_frames: int) -> range:
        limit = self.options["max_frames"]
        return range(num_frames if limit is None else min(num_frames, int(limit)))

    def _writer(self, target: Path, fps: Any, audio: Path) -> VideoWriter:
        return VideoWriter(target, fps, crf=self.options["crf"], audio_from=_audio_of(audio))

    def _fitted(self, chunk: Any) -> Any:
        return fit_frames(chunk, self.size, self.options["fit"])

    def real(self, job: Job, target: Path) -> int:
        """Re-encode a real video at the model's size; return the frames written."""
        batch_size = self.options["batch_size"]
        with open_input_video(job.source.path, option="videos") as source:
            frames = self._frame_range(source.meta.num_frames)
            with self._writer(target, video_fps(source), job.source.path) as writer:
                for _, chunk in iter_chunks(source, batch_size, frames):
                    writer.write(self._fitted(chunk))
        return len(frames)

    def fake(self, job: Job, target: Path) -> int:
        """Animate the source's frame with the driving video; return the frames written."""
        with open_input_video(job.source.path, option="videos") as source:
            last = source.meta.num_frames - 1
            image = source.read([min(self.options["source_frame"], last)])
        animator = make_animator(
            self.networks,
            to_tensor(self._fitted(image)),
            mode=resolve_mode(self.options.get("mode"), self.options["relative"]),
            adapt_scale=self.options["adapt_scale"],
            relative_jacobian=self.options["relative_jacobian"],
            autocast_dtype=self.autocast,
        )
        batch_size = self.options["batch_size"]
        with open_input_video(job.driving.path, option="videos") as driving:
            frames = self._frame_range(driving.meta.num_frames)
            with self._writer(target, video_fps(driving), job.driving.path) as writer:
                for indices, chunk in iter_chunks(driving, batch_size, frames):
                    batch = to_tensor(self._fitted(chunk))
                    if indices.start == 0:
                        animator.set_initial(batch[:1])
                    writer.write(animator(batch)["prediction"].cpu())
        return len(frames)
