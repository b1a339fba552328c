"""Fixtures of the detector tests: a tiny synthetic face dataset and config composition."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

TEST_CONF = Path(__file__).resolve().parent / "conf"


def draw_face(rng: np.random.Generator, fake: bool, size: int = 40) -> np.ndarray:
    """A cartoon face; fakes carry a high-frequency blend artefact around the mouth."""
    image = np.full((size, size, 3), rng.integers(90, 160, 3), dtype=np.uint8)
    center = (size // 2, size // 2)
    skin = tuple(int(c) for c in rng.integers(150, 230, 3))
    cv2.ellipse(image, center, (size // 3, size * 2 // 5), 0, 0, 360, skin, -1)
    for dx in (-size // 7, size // 7):
        cv2.circle(
            image, (center[0] + dx, center[1] - size // 8), max(1, size // 16), (30, 30, 30), -1
        )
    mouth = (slice(size // 2 + size // 8, size // 2 + size // 4), slice(size // 3, 2 * size // 3))
    cv2.line(image, (size // 3, size * 5 // 8), (2 * size // 3, size * 5 // 8), (60, 20, 20), 1)
    if fake:
        patch = image[mouth].astype(np.int16)
        checker = (np.indices(patch.shape[:2]).sum(0) % 2 * 60 - 30)[..., None]
        image[mouth] = np.clip(patch + checker, 0, 255).astype(np.uint8)
    return image


def write_face_dataset(
    root: Path,
    videos_per_class: dict[str, int] | None = None,
    frames: int = 4,
    second_face_every: int = 2,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``index.csv`` and ``faces/`` (crops + ``faces.csv``) of a synthetic face dataset.

    Returns:
        The index CSV and the faces folder.
    """
    videos_per_class = videos_per_class or {"train": 4, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    faces_dir = root / "faces"
    index_rows, face_rows = [], []
    for split, count in videos_per_class.items():
        for number in range(count):
            real = f"{split}_real_{number:03d}"
            for video, label in ((real, 0), (f"{split}_fake_{number:03d}", 1)):
                index_rows.append(
                    {
                        "video": video,
                        "path": f"videos/{video}.mp4",
                        "label": label,
                        "original": real if label else "",
                        "split": split,
                    }
                )
                for frame in range(0, frames * 10, 10):
                    ranks = 2 if frame % (second_face_every * 10) == 0 else 1
                    for rank in range(ranks):
                        crop = Path("crops") / video / f"{frame:05d}_{rank}.png"
                        (faces_dir / crop).parent.mkdir(parents=True, exist_ok=True)
                        cv2.imwrite(str(faces_dir / crop), draw_face(rng, bool(label)))
                        face_rows.append(
                            {
                                "video": video,
                                "frame": frame,
                                "path": str(crop),
                                "left": 10,
                                "top": 12,
                                "right": 50,
                                "bottom": 52,
                                "confidence": 0.99 - 0.1 * rank,
                                "face_rank": rank,
                            }
                        )
    index = root / "index.csv"
    pd.DataFrame(index_rows).to_csv(index, index=False)
    pd.DataFrame(face_rows).to_csv(faces_dir / "faces.csv", index=False)
    return index, faces_dir


@pytest.fixture
def face_dataset(tmp_path) -> tuple[Path, Path]:
    """A small synthetic face dataset: (index CSV, faces folder)."""
    return write_face_dataset(tmp_path / "dataset")


@pytest.fixture
def detector_cfg(make_cfg, face_dataset):
    """Compose ``python train.py <overrides>`` on the synthetic faces with a tiny backbone."""
    index, faces_dir = face_dataset

    def _make(overrides: list[str]):
        return make_cfg(
            [
                f"hydra.searchpath=[file://{TEST_CONF}]",
                "data=faces_synthetic",
                f"data.index={index}",
                f"data.faces_dir={faces_dir}",
                "logger=csv",
                *overrides,
            ]
        )

    return _make
