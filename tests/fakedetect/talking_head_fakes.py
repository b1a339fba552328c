"""A real-versus-fake face dataset made in seconds: synthetic talking heads and face swaps.

Real videos are the embedded dataset's talking heads. A fake takes a real video and
pastes, inside a feathered ellipse over the face, the face of another identity of the
same split rendered at half resolution and scaled back up: the two traces a face swap
leaves (a blending seam, a blurrier face than its surroundings), made deterministically
and without a trained generator. Identities never cross splits, so the test measures
detection on people the detector has not seen.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from datamodules.synthetic_faces import random_identity
from datamodules.synthetic_videos import render_talking_head


def face_swap(target: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """Blend the half-resolution face of ``donor`` into ``target`` (both ``(H, W, 3)`` uint8)."""
    size = target.shape[0]
    small = cv2.resize(donor, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (size // 2, size // 2), (size * 9 // 32, size * 11 // 32), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), size / 32)[..., None]
    return (mask * blurred + (1 - mask) * target).round().astype(np.uint8)


def write_face_swap_dataset(
    root: Path,
    identities: dict[str, int] | None = None,
    videos_per_identity: int = 2,
    frames: int = 8,
    size: int = 64,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``index.csv`` and ``faces/`` (whole frames as crops, ``faces.csv``).

    Args:
        root: where to write.
        identities: people per split (``train``, ``val``, ``test``), all distinct.
        videos_per_identity: real videos of each person; each gets one fake.
        frames: frames per video.
        size: frame side in pixels.
        seed: the seed of the people, their videos and the donors.

    Returns:
        The index CSV and the faces folder.
    """
    identities = identities or {"train": 8, "val": 2, "test": 4}
    rng = np.random.default_rng(seed)
    faces_dir = root / "faces"
    index_rows, face_rows = [], []
    first = 0
    for split, count in identities.items():
        people = range(first, first + count)
        first += count
        videos = {
            (person, number): render_talking_head(
                random_identity(np.random.default_rng([seed, person])),
                np.random.default_rng([seed, person, number + 1]),
                frames,
                size,
            )
            for person in people
            for number in range(videos_per_identity)
        }
        for (person, number), real in videos.items():
            donor_person = rng.choice([p for p in people if p != person])
            donor = videos[(donor_person, int(rng.integers(videos_per_identity)))]
            fake = np.stack([face_swap(t, d) for t, d in zip(real, donor, strict=True)])
            real_name = f"{split}/id{person:03d}_{number}"
            for video, label, content in ((real_name, 0, real), (f"{real_name}_swap", 1, fake)):
                original = real_name if label else ""
                index_rows.append((video, label, original, split))
                for frame, image in enumerate(content):
                    crop = Path("crops") / video / f"{frame:05d}_0.png"
                    (faces_dir / crop).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(faces_dir / crop), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                    face_rows.append((video, frame, str(crop)))
    index = pd.DataFrame(index_rows, columns=["video", "label", "original", "split"])
    index.insert(1, "path", "videos/" + index["video"] + ".mp4")
    index.to_csv(root / "index.csv", index=False)
    # Each crop is the whole frame, found with full confidence.
    faces = pd.DataFrame(face_rows, columns=["video", "frame", "path"])
    faces = faces.assign(left=0, top=0, right=size, bottom=size, confidence=1.0, face_rank=0)
    faces.to_csv(faces_dir / "faces.csv", index=False)
    return root / "index.csv", faces_dir
