"""Two small labelled test sets of synthetic face videos for the cross-evaluation tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pipeline_media import write_face_video

# Aligned-face protocol: the whole frame is the face, so the tests spend no time detecting.
WHOLE_FRAME = {
    "detector": {"_target_": "datamodules.face_detection.WholeFrameDetector"},
    "frames_per_video": 3,
    "policy": "tight",
    "size": 48,
    "margin": 0.0,
}


def write_alpha(root: Path) -> Path:
    """An index CSV in FF++'s form: test reals, fakes of two methods, a val video, a bad file."""
    rows = []
    for number in range(2):
        rows.append(("real", number, 0, "youtube", "test"))
        for method in ("Deepfakes", "FaceSwap"):
            rows.append((method, number, 1, method, "test"))
    rows.append(("real", 9, 0, "youtube", "val"))
    table = []
    for folder, number, label, method, split in rows:
        path = Path(folder) / f"{number:03d}.mp4"
        write_face_video(root / path, num_frames=4 + number + 2 * label, height=96, width=128)
        table.append({"path": str(path), "label": label, "method": method, "split": split})
    broken = root / "real" / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    table.append({"path": "real/broken.mp4", "label": 0, "method": "youtube", "split": "test"})
    index = root / "alpha_index.csv"
    pd.DataFrame(table).to_csv(index, index=False)
    return index


def write_beta(root: Path) -> Path:
    """A folder with labels.csv (real/fake words, no split column): evaluated whole."""
    for name in ("a", "b", "c"):
        write_face_video(root / f"{name}.mp4", num_frames=5, height=80, width=80)
    labels = pd.DataFrame({"path": ["a.mp4", "b.mp4", "c.mp4"], "label": ["real", "fake", "Fake"]})
    labels.to_csv(root / "labels.csv", index=False)
    return root
