"""``python train.py ... debug=fast_dev_run`` runs of ``benchmarks/gpu_check.py``, on tiny data.

Imported, not a benchmark itself. Each run is the user's command in a subprocess (so a
crash, a hang or a CUDA error stays in it), with pretrained weights off and a tiny
synthetic dataset written here, so nothing is downloaded: a folder of 256 px talking
heads in the VoxCeleb layout for FOMM, and face crops with a video index for the detector.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from datamodules.embedded import write_talking_heads
from datamodules.extraction.log import FACES_COLUMNS
from datamodules.synthetic_faces import random_identity
from datamodules.synthetic_videos import render_talking_head

from gpu_check_rows import Sizes, fomm_overrides

ROOT = Path(__file__).resolve().parents[1]
_TAIL_LINES = 6


def write_vox_like(folder: Path, size: int) -> Path:
    """Three short talking-head clips in the VoxCeleb layout: ``train/``, ``test/``, ``ID#clip``."""
    if not (folder / "test").is_dir():
        write_talking_heads(folder / "train", 2, 1, num_frames=8, size=size, seed=1)
        write_talking_heads(
            folder / "test", 1, 1, num_frames=8, size=size, seed=1, first_identity=2
        )
    return folder


def write_face_crops(folder: Path, size: int, frames: int = 3) -> tuple[Path, Path]:
    """Face crops of real and fake videos in every split: ``index.csv`` and ``faces/``.

    Real and fake are different synthetic people: the run checks the pipeline, not what
    the detector learns.
    """
    index_csv, faces_dir = folder / "index.csv", folder / "faces"
    if index_csv.is_file():
        return index_csv, faces_dir
    index_rows, face_rows = [], []
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        for number in range(count):
            for label in (0, 1):
                video = f"{split}_{'fake' if label else 'real'}_{number}"
                rng = np.random.default_rng([len(index_rows)])
                clip = render_talking_head(random_identity(rng), rng, frames, size, supersample=1)
                index_rows.append({"video": video, "label": label, "split": split})
                for frame, image in enumerate(clip):
                    crop = faces_dir / "crops" / video / f"{frame:06d}_0.jpg"
                    crop.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(crop), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    face_rows.append(
                        {
                            "video": video,
                            "frame": frame,
                            "path": crop.relative_to(faces_dir).as_posix(),
                            "left": 0,
                            "top": 0,
                            "right": size,
                            "bottom": size,
                            "confidence": 1.0,
                            "face_rank": 0,
                        }
                    )
    pd.DataFrame(face_rows, columns=FACES_COLUMNS).to_csv(faces_dir / "faces.csv", index=False)
    pd.DataFrame(index_rows).to_csv(index_csv, index=False)
    return index_csv, faces_dir


def fast_dev_run_overrides(model: str, sizes: Sizes, work: Path) -> list[str]:
    """The command-line overrides that point ``model``'s run at the tiny synthetic data.

    ``model=fomm`` runs ``sizes.fomm_model`` (the tiny FOMM with ``--quick``).
    """
    if model == "fomm":
        size = sizes.fomm_size
        overrides = [o for o in fomm_overrides(sizes) if not o.startswith("data=")]
        return [
            *overrides,
            "data=vox",
            f"data.root_dir={write_vox_like(work / f'vox{size}', size)}",
            f"data.frame_shape=[{size},{size},3]",
            "data.batch_size=2",
            "data.num_repeats=2",
            "data.val_identities=1",
            "data.val_max_frames=4",
            "data.test_max_frames=4",
        ]
    index_csv, faces_dir = write_face_crops(
        work / f"faces{sizes.detector_size}", sizes.detector_size
    )
    overrides = [
        f"model={model}",
        "model.net.pretrained=false",
        "data=folder",
        f"data.index={index_csv}",
        f"data.faces_dir={faces_dir}",
        f"data.image_size={sizes.detector_size}",
        "data.batch_size=4",
        "data.triplet_batch_size=2",
        "data.eval_batch_size=8",
        "data.val_triplets=4",
    ]
    if sizes.detector_backbone:
        overrides.append(f"model.net.backbone={sizes.detector_backbone}")
    return overrides


def fast_dev_run(
    model: str, sizes: Sizes, cuda: bool, work: Path, timeout_s: float
) -> dict[str, Any]:
    """Run ``python train.py trainer=gpu debug=fast_dev_run model=<model>``: its seconds.

    Raises:
        RuntimeError: the run failed (the end of its output is the message), or it ran
            on the CPU although a GPU was asked for.
    """
    trainer = "gpu" if cuda else "cpu"
    overrides = [
        f"trainer={trainer}",
        "debug=fast_dev_run",
        *fast_dev_run_overrides(model, sizes, work),
    ]
    command = [sys.executable, "train.py", *overrides, f"paths.log_dir={work / 'logs'}"]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "HYDRA_FULL_ERROR": "1"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"no result after {timeout_s:.0f} s") from error
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-_TAIL_LINES:])
        raise RuntimeError(f"exit {done.returncode}: {tail}")
    used = re.search(r"GPU available: \w+ \((\w+)\), used: (\w+)", output)
    if cuda and not (used and used.group(2) == "True"):
        raise RuntimeError("trainer=gpu ran on the CPU")
    return {"value": seconds, "detail": " ".join(overrides[:3])}
