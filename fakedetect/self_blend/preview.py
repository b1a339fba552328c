"""What a self-blended detector learns from, as a picture: real crops, masks, blends.

Each row of the grid is one face: the real crop (the pair's real sample), the blend
mask (white: the source's pixels, black: the target's) and the self-blended
pseudo-fake. Two ways to get it:

- during training with ``data.fakes=self_blended``: the :class:`SelfBlendPreview`
  callback (in ``callbacks=default``) writes ``self_blend_preview.png`` in the run
  directory at the start of training, sends it to wandb/TensorBoard as
  ``data/self_blend``, and logs how many crops got their landmarks from where;
- for any folder of face images: ``python -m fakedetect.self_blend.preview
  faces=DIR output=grid.png`` (landmarks from the folder's ``faces.csv`` where it has
  them, else from the landmark detector).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from datamodules.command_errors import exit_on_user_error
from datamodules.face_crops import read_crop
from datamodules.self_blend_landmarks import resolve_crop_landmarks
from datamodules.training.image_logging import log_image

log = logging.getLogger(__name__)

PREVIEW_FILE = "self_blend_preview.png"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat((np.clip(image, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, 2)
    scale = size / max(image.shape[:2])
    width, height = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
    tile = np.zeros((size, size, 3), dtype=np.uint8)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    top, left = (size - height) // 2, (size - width) // 2
    tile[top : top + height, left : left + width] = resized
    return tile


def preview_grid(
    examples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], tile: int = 160, gap: int = 4
) -> np.ndarray:
    """One row per (real, mask, fake): uint8 RGB, ``tile``-pixel cells on a white background.

    Raises:
        ValueError: no example.
    """
    if not examples:
        raise ValueError("no self-blended example to show")
    rows = len(examples)
    grid = np.full((rows * (tile + gap) + gap, 3 * (tile + gap) + gap, 3), 255, dtype=np.uint8)
    for row, images in enumerate(examples):
        for column, image in enumerate(images):
            top, left = gap + row * (tile + gap), gap + column * (tile + gap)
            grid[top : top + tile, left : left + tile] = _tile(image, tile)
    return grid


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


class SelfBlendPreview(pl.Callback):
    """At the start of self-blended training: the preview grid and the landmark counts.

    Does nothing for other data (it sits in the default callbacks).

    Args:
        count: faces shown.
        tile: cell size in pixels.
    """

    def __init__(self, count: int = 8, tile: int = 160) -> None:
        self.count = count
        self.tile = tile

    @rank_zero_only
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write and log the grid; log the crops per landmark source (``data/...``)."""
        data = getattr(trainer.datamodule, "self_blended", None) if trainer.datamodule else None
        if data is None:
            return
        counts = data.landmark_counts.get("train", {})
        metrics = {f"data/self_blend_landmarks_{source}": count for source, count in counts.items()}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        examples = data.examples(self.count)
        if not examples:
            return
        grid = preview_grid(examples, self.tile)
        path = write_png(Path(trainer.default_root_dir) / PREVIEW_FILE, grid)
        image = torch.from_numpy(grid).permute(2, 0, 1).float() / 255
        log_image(trainer, "data/self_blend", image, trainer.global_step, file_fallback=False)
        log.info("Self-blend preview (real | mask | fake): %s", path)


def folder_examples(
    faces: str | Path, blender: Any, count: int = 8, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Self-blend up to ``count`` face images of a folder (sorted, recursive).

    Landmarks come from the folder's ``faces.csv`` (an extraction folder) where it
    stores them, else from ``blender.landmarks``; images without a face are skipped.

    Raises:
        FileNotFoundError: the folder does not exist or holds no image.
    """
    folder = Path(faces)
    if not folder.is_dir():
        raise FileNotFoundError(f"faces={folder} is not a folder of face images.")
    if (folder / "faces.csv").is_file():
        table = pd.read_csv(folder / "faces.csv", dtype={"video": str, "path": str})
    else:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        table = pd.DataFrame({"path": [p.relative_to(folder).as_posix() for p in files]})
    if table.empty:
        raise FileNotFoundError(f"No face images ({', '.join(IMAGE_SUFFIXES)}) under {folder}.")
    examples = []
    for start in range(0, len(table), count):
        chunk = table.iloc[start : start + count]
        found = resolve_crop_landmarks(chunk, folder, blender.landmarks, progress=False)
        for offset, points in enumerate(found.points):
            image = read_crop(folder / chunk["path"].iloc[offset])
            if points is None or image is None:
                continue
            result = blender(image, points, np.random.default_rng([seed, start + offset]))
            examples.append((result.real, result.mask, result.fake))
            if len(examples) == count:
                return examples
    return examples


@hydra.main(version_base="1.3", config_path="../../conf", config_name="self_blend_preview")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m fakedetect.self_blend.preview faces=DIR output=grid.png [count=8]``."""
    if not cfg.get("faces") or not cfg.get("output"):
        raise ValueError("Give faces=DIR (face images or an extraction folder) and output=PNG.")
    blender = hydra.utils.instantiate(cfg.self_blend)
    examples = folder_examples(cfg.faces, blender, cfg.count, cfg.seed)
    if not examples:
        raise ValueError(f"No face was found in the images of {cfg.faces}: nothing to blend.")
    path = write_png(cfg.output, preview_grid(examples, cfg.tile))
    print(f"{len(examples)} faces (real | mask | self-blended): {path}")


if __name__ == "__main__":
    main()
