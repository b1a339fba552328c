"""Face pose from MTCNN's 5-point landmarks: best-frame search and an AKD-style metric.

Both uses compare faces by five points (left eye, right eye, nose, left and right mouth
corner) that facenet-pytorch's MTCNN gives with every detection, so they work offline
with weights shipped in the wheel.

Differences from the paper and the official code, stated once here:
    * The official ``demo.py --find_best_frame`` uses the 68 landmarks of the
      ``face_alignment`` package; here the 5 MTCNN points are normalised the same way
      (centred on their mean, divided by the square root of their convex-hull area) and
      compared by the same squared distance. Five points capture head yaw/roll and mouth
      opening coarsely; they do not see eyebrows or the jaw line.
    * The paper's AKD averages 68 face-alignment landmarks (and AED uses a
      re-identification network); the 5-point variant here gives different, smaller
      numbers that are not comparable with the paper's tables.

Frames without a face carry NaN landmarks throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from tqdm.auto import tqdm

from datamodules.face_detection import FaceDetector

NUM_LANDMARKS = 5
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def normalize_landmarks(points: np.ndarray) -> np.ndarray:
    """Remove position and scale from landmarks, keeping pose and expression.

    Args:
        points: ``(..., P, 2)`` landmarks in pixels; NaN rows mark frames without a face.

    Returns:
        The same shape: each set centred on its mean and divided by the square root of
        its convex-hull area, so faces of different sizes and places compare by shape.
        Sets that are missing or degenerate (all points on a line) become NaN.
    """
    points = np.asarray(points, dtype=np.float64)
    flat = points.reshape(-1, points.shape[-2], 2)
    out = np.full_like(flat, np.nan)
    for index, landmarks in enumerate(flat):
        if not np.isfinite(landmarks).all():
            continue
        centred = landmarks - landmarks.mean(axis=0, keepdims=True)
        try:
            area = ConvexHull(centred).volume  # in 2-D, "volume" is the area
        except QhullError:
            continue
        if area > 0:
            out[index] = centred / np.sqrt(area)
    return out.reshape(points.shape)


def pose_distances(source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """Squared distance between the normalised source face and each driving face.

    Args:
        source: ``(P, 2)`` landmarks of the source image.
        driving: ``(T, P, 2)`` landmarks of the driving frames (NaN where no face).

    Returns:
        ``(T,)`` distances, ``inf`` where either face is missing.
    """
    source_n = normalize_landmarks(source)
    driving_n = normalize_landmarks(driving)
    distances = ((driving_n - source_n[None]) ** 2).sum(axis=(1, 2))
    return np.where(np.isfinite(distances), distances, np.inf)


def find_best_frame(source: np.ndarray, driving: np.ndarray) -> int:
    """Index of the driving frame whose face pose is closest to the source's.

    Animating from that frame (forward to the end, backward to the start) makes the
    relative motion start from matching poses, which is what ``find_best_frame`` of
    the official demo does.

    Raises:
        ValueError: no face in the source or in any driving frame (callers turn this
            into a user-facing message naming the file).
    """
    if not np.isfinite(source).all():
        raise ValueError("no face landmarks in the source image")
    distances = pose_distances(source, driving)
    if not np.isfinite(distances).any():
        raise ValueError("no face landmarks in any driving frame")
    return int(np.argmin(distances))


@dataclass(frozen=True)
class KeypointDistance:
    """The AKD analogue over one video.

    Attributes:
        akd: mean L2 distance in pixels between corresponding landmarks of real and
            generated frames, over frames where both have a face (NaN if none).
        missing_rate: fraction of the frames with a face in the real video whose
            generated frame has none (the analogue of the paper's MKR).
        frames_compared: frames where both have a face.
        frames_with_face: frames where the real video has a face.
        per_frame: ``(T,)`` mean landmark distance per frame (NaN where not compared).
    """

    akd: float
    missing_rate: float
    frames_compared: int
    frames_with_face: int
    per_frame: np.ndarray


def keypoint_distance(real: np.ndarray, generated: np.ndarray) -> KeypointDistance:
    """Compare landmarks of real and generated frames (both ``(T, P, 2)``, NaN = no face)."""
    real = np.asarray(real, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if real.shape != generated.shape:
        raise ValueError(f"landmark shapes differ: {real.shape} vs {generated.shape}")
    real_found = np.isfinite(real).all(axis=(1, 2))
    generated_found = np.isfinite(generated).all(axis=(1, 2))
    both = real_found & generated_found
    per_frame = np.full(len(real), np.nan)
    per_frame[both] = np.linalg.norm(real[both] - generated[both], axis=-1).mean(axis=-1)
    with_face = int(real_found.sum())
    lost = int((real_found & ~generated_found).sum())
    return KeypointDistance(
        akd=float(per_frame[both].mean()) if both.any() else float("nan"),
        missing_rate=lost / with_face if with_face else float("nan"),
        frames_compared=int(both.sum()),
        frames_with_face=with_face,
        per_frame=per_frame,
    )


def detect_landmarks(
    detector: FaceDetector, frames: np.ndarray, batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    """The 5 landmarks of the largest face in each frame, NaN where there is none.

    Args:
        detector: a detector that gives landmarks (MTCNN).
        frames: ``(T, H, W, 3)`` uint8 RGB.
        batch_size: frames per detector call.
        progress: show a progress bar.

    Returns:
        ``(T, 5, 2)`` float64 pixel coordinates.

    Raises:
        ValueError: the detector finds faces but gives no landmarks (e.g. Haar).
    """
    out = np.full((len(frames), NUM_LANDMARKS, 2), np.nan)
    with tqdm(total=len(frames), desc="face landmarks", unit="frame", disable=not progress) as bar:
        for start in range(0, len(frames), batch_size):
            for offset, faces in enumerate(detector(frames[start : start + batch_size])):
                if not faces:
                    continue
                largest = max(faces, key=lambda face: face.area)
                if largest.landmarks is None:
                    raise ValueError(
                        f"{type(detector).__name__} gives no face landmarks; use the MTCNN "
                        "detector (datamodules.face_detection.MTCNNDetector)"
                    )
                out[start + offset] = largest.landmarks
            bar.update(min(batch_size, len(frames) - start))
    return out
