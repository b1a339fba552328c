"""Send videos and plots to a run's loggers: what FOMM's and the detector's dashboards share.

A video is always written as an mp4 under the run directory,
``<run dir>/videos/<tag>_step<N>.mp4``, because that file is what every logger can keep:
wandb uploads it as a ``wandb.Video`` (played in the dashboard), and loggers without video
support (CSV; TensorBoard, whose videos need moviepy) leave it where it is, so the run
still holds what a person should look at. A matplotlib figure becomes an image through
:func:`~datamodules.training.image_logging.log_image` (wandb, TensorBoard, or a PNG file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor

from datamodules.training.image_logging import log_image


@rank_zero_only
def log_video(trainer: Any, tag: str, frames: Tensor, step: int, fps: float = 8.0) -> Path | None:
    """Write ``frames`` as an mp4 in the run directory and send it to the loggers that play video.

    Args:
        trainer: the Lightning trainer (its loggers and ``default_root_dir``).
        tag: the video's name, slash-separated (``val/sample_animation``).
        frames: float ``(T, 3, H, W)`` in [0, 1] on the CPU (H and W even: H.264's 4:2:0).
        step: the step it belongs to (in the file name and the wandb history).
        fps: playback rate.

    Returns:
        The mp4 written, or None when the trainer has no logger.
    """
    from datamodules.video_writer import write_video

    if trainer is None or not trainer.loggers:
        return None
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"log_video takes (T, 3, H, W) frames, got {tuple(frames.shape)}")
    directory = Path(trainer.default_root_dir) / "videos"
    directory.mkdir(parents=True, exist_ok=True)
    path = write_video(
        directory / f"{tag.replace('/', '_')}_step{step:07d}.mp4", frames.clamp(0, 1), fps=fps
    )
    for logger in trainer.loggers:
        if type(logger).__name__ == "WandbLogger":
            logger.log_video(key=tag, videos=[str(path)], step=step, fps=[fps], format=["mp4"])
    return path


def figure_image(figure: Any) -> Tensor:
    """Render a matplotlib figure to a ``(3, H, W)`` float image in [0, 1].

    Why an image rather than each logger's own plot type: one picture reads the same in
    wandb, TensorBoard and the PNG fallback, and the figure is drawn once.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0


def log_figure(trainer: Any, tag: str, figure: Any, step: int) -> Path | None:
    """Send a matplotlib figure to every logger as an image (a PNG file for those without).

    Returns:
        The PNG written for loggers that take no images, or None.
    """
    return log_image(trainer, tag, figure_image(figure), step)
