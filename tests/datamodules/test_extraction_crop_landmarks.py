"""Landmarks follow the face into its crop, from the detector or from a landmarks CSV."""

import cv2
import numpy as np
import pandas as pd
import pytest

from datamodules.embedded import EmbeddedSpec, ensure_embedded_dataset
from datamodules.extraction.crop_landmarks import landmarks_in_crop
from datamodules.extraction.crops import CropSettings, crop_face
from datamodules.extraction.extract import extract_faces
from datamodules.face_detection import WholeFrameDetector
from datamodules.face_landmarks import LANDMARK_COLUMNS, stored_landmarks

POINTS = np.array([[70.0, 52.0], [96.0, 50.0], [84.0, 66.0], [74.0, 80.0], [95.0, 79.0]])


@pytest.mark.parametrize(
    ("policy", "size", "box", "frame_size"),
    [
        ("scale", 224, (60.0, 35.0, 110.0, 95.0), (120, 200)),  # upscaled square
        ("scale", 40, (60.0, 35.0, 110.0, 95.0), (120, 200)),  # downscaled square
        ("tight", 160, (60.0, 35.0, 110.0, 95.0), (120, 200)),  # margin box, aspect kept
        ("scale", 96, (0.0, 0.0, 200.0, 120.0), (120, 200)),  # a square padded past the frame
    ],
)
def test_points_map_onto_the_same_pixels_of_the_crop(policy, size, box, frame_size):
    frame = np.zeros((*frame_size, 3), dtype=np.uint8)
    for index, (x, y) in enumerate(POINTS.astype(int)):
        frame[y - 1 : y + 2, x - 1 : x + 2] = (40 * (index + 2), 255, 0)
    crop = crop_face(frame, box, policy, size)
    mapped = landmarks_in_crop(POINTS, box, frame_size, policy, size)
    for index, (x, y) in enumerate(mapped):
        window = crop[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2]
        assert window[..., 1].max() > 100, (index, x, y)  # the marked square is there
    assert cv2.countNonZero(crop[..., 1]) > 0


def test_extraction_stores_known_landmarks_for_the_whole_frame_detector(tmp_path):
    spec = EmbeddedSpec(
        train_identities=2,
        test_identities=1,
        train_videos_per_identity=1,
        test_videos_per_identity=1,
        num_frames=6,
        size=64,
    )
    root = ensure_embedded_dataset(tmp_path / "embedded", spec)
    options = dict(
        detector=WholeFrameDetector(),
        crop=CropSettings(frames_per_video=3, policy="tight", size=128, margin=0.0),
        workers=0, progress=False,
    )  # fmt: skip
    faces = extract_faces(
        root / "train", tmp_path / "faces", landmarks_csv=root / "landmarks.csv", **options
    )
    assert len(faces) == 6 and faces[list(LANDMARK_COLUMNS)].notna().all().all()
    known = pd.read_csv(root / "landmarks.csv", dtype={"video": str}).set_index(["video", "frame"])
    pupils = []
    for row, points in zip(faces.itertuples(), stored_landmarks(faces), strict=True):
        name = row.video.split("/")[-1]
        fractions = known.loc[(name, row.frame), list(LANDMARK_COLUMNS)].to_numpy(float)
        # whole 64-pixel frame, upscaled twice: crop = (frame + 0.5) * 2 - 0.5
        np.testing.assert_allclose(
            points, (fractions.reshape(5, 2) * 64 + 0.5) * 2 - 0.5, atol=0.02
        )
        crop = cv2.imread(str(tmp_path / "faces" / row.path))
        pupils += [crop[int(round(y)), int(round(x))].max() for x, y in points[:2]]
    assert np.mean(np.asarray(pupils) < 90) > 0.6  # the eye points sit on dark pupils
    plain = extract_faces(root / "train", tmp_path / "plain", **options)
    assert plain[list(LANDMARK_COLUMNS)].isna().all().all()  # no detector points, no CSV
