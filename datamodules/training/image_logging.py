"""Send an image to a run's loggers: the one implementation FOMM's and the detector's share.

wandb and TensorBoard take images; loggers that cannot (CSV) get a PNG file under the
run directory instead, ``<run dir>/images/<tag>_step<N>.png``, so every run keeps what a
person should look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor


@rank_zero_only
def log_image(
    trainer: Any, tag: str, image: Tensor, step: int, file_fallback: bool = True
) -> Path | None:
    """Send a ``(3, H, W)`` image in [0, 1] to every logger of ``trainer``.

    Args:
        trainer: the Lightning trainer (its loggers and ``default_root_dir``).
        tag: the image's name, slash-separated (``train/animation``).
        image: float ``(3, H, W)`` in [0, 1], on the CPU.
        step: the step it belongs to.
        file_fallback: write the PNG for loggers without images.

    Returns:
        The PNG written for the loggers without images, or None.
    """
    if trainer is None or not trainer.loggers:
        return None
    needs_file = False
    for logger in trainer.loggers:
        kind = type(logger).__name__
        if kind == "WandbLogger":
            pixels = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            logger.log_image(key=tag, images=[pixels], step=step)
        elif kind == "TensorBoardLogger":
            logger.experiment.add_image(tag, image, step)
        else:
            needs_file = True
    if not (needs_file and file_fallback):
        return None
    from torchvision.utils import save_image

    directory = Path(trainer.default_root_dir) / "images"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{tag.replace('/', '_')}_step{step:07d}.png"
    save_image(image, path)
    return path
