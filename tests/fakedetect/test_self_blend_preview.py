"""The picture of what a self-blended detector learns from: a grid for any folder of faces."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from pipeline_media import draw_face

from datamodules.face_landmarks import landmark_columns
from fakedetect.self_blend import MTCNNFivePoints, SelfBlend
from fakedetect.self_blend.preview import folder_examples, preview_grid

ROOT = Path(__file__).resolve().parents[2]


def write_faces(folder: Path, count: int, size: int = 120) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = np.full((size, size, 3), (90 + 20 * index, 120, 160), dtype=np.uint8)
        draw_face(image, (size // 2, size // 2 + 4), size * 2 // 5)
        cv2.imwrite(str(folder / f"face{index}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_a_folder_of_faces_becomes_rows_of_real_mask_fake(tmp_path):
    write_faces(tmp_path / "faces" / "nested", 3)
    (tmp_path / "faces" / "notes.txt").write_text("not a face")
    blender = SelfBlend(landmarks=MTCNNFivePoints(device="cpu"))
    examples = folder_examples(tmp_path / "faces", blender, count=2, seed=1)
    assert len(examples) == 2
    for real, mask, fake in examples:
        assert real.shape == fake.shape == (120, 120, 3) and mask.shape == (120, 120)
        assert mask.max() > 0 and np.array_equal(fake[mask == 0], real[mask == 0])
    grid = preview_grid(examples, tile=50, gap=2)
    assert grid.shape == (2 * 52 + 2, 3 * 52 + 2, 3)
    middle = grid[2:52, 54:104]  # the first mask: white face on black
    assert middle.max() > 200 and middle.min() < 10
    again = folder_examples(tmp_path / "faces", blender, count=2, seed=1)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(examples, again, strict=True))


@pytest.mark.slow  # two command runs (interpreter start-up)
def test_the_command_writes_the_grid_of_an_extraction_folder(tmp_path):
    faces = tmp_path / "extracted"
    write_faces(faces / "crops", 2)
    points = np.array([[52, 57], [74, 57], [63, 68], [55, 80], [71, 80]], dtype=float)
    rows = [
        {"video": "v", "frame": i, "path": f"crops/face{i}.png", **landmark_columns(points)}
        for i in range(2)
    ]
    pd.DataFrame(rows).to_csv(faces / "faces.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "fakedetect.self_blend.preview", f"paths.log_dir={tmp_path}"]
    done = subprocess.run(
        [*command, f"faces={faces}", f"output={tmp_path / 'grid.png'}", "tile=40"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 faces" in done.stdout
    assert cv2.imread(str(tmp_path / "grid.png")).shape == (2 * 44 + 4, 3 * 44 + 4, 3)
    (tmp_path / "empty").mkdir()
    failed = subprocess.run(
        [*command, f"faces={tmp_path / 'empty'}", f"output={tmp_path / 'x.png'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2 and "No face images" in failed.stderr
