"""Face detectors with one interface, for face extraction, prediction and FOMM face tracks.

Every detector takes RGB frames of any size and orientation and returns, per frame, the
faces found, most confident first, in the pixel coordinates of the frame it was given.
Large frames are searched on a downscaled copy (``max_size``, the longest side) and the
results are mapped back: a face detector needs about 40 pixels of face, not 1080p, and
detection cost grows with the pixel count.

Detectors are plain classes a Hydra config instantiates (``_target_:
datamodules.face_detection.MTCNNDetector``); ``conf/detector/`` holds the two choices.

Example:
    >>> detector = MTCNNDetector(device="cpu")
    >>> faces_per_frame = detector.detect(frames)  # frames: (N, H, W, 3) uint8 RGB
    >>> best = faces_per_frame[0][0] if faces_per_frame[0] else None
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from datamodules.devices import resolve_device

Frames = Sequence[np.ndarray] | np.ndarray


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: (left, top, right, bottom) in pixels of the frame given to ``detect``.
            May reach slightly outside the frame: detectors extrapolate faces cut by
            the border; crop functions clip.
        confidence: detector score, higher is more certain (MTCNN: a probability;
            Haar: a logistic of the cascade's level weight, for ranking only).
        landmarks: ``(5, 2)`` (x, y) points, the eye on the image's left, the other
            eye, the nose tip, the mouth corner on the image's left, the other corner;
            None for detectors without landmarks.
    """

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None = field(default=None, compare=False)

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        """Box centre (x, y)."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    def scaled(self, scale_x: float, scale_y: float) -> Face:
        """The same face in a frame resized by (scale_x, scale_y)."""
        left, top, right, bottom = self.box
        box = (left * scale_x, top * scale_y, right * scale_x, bottom * scale_y)
        points = None
        if self.landmarks is not None:
            points = self.landmarks * np.asarray([scale_x, scale_y], dtype=np.float32)
        return Face(box=box, confidence=self.confidence, landmarks=points)


def as_frame_list(frames: Frames) -> list[np.ndarray]:
    """Validate frames and return them as a list of ``(H, W, 3)`` uint8 RGB arrays.

    Raises:
        ValueError: a frame is not an RGB uint8 image.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4:
            raise ValueError(f"expected (N, H, W, 3) uint8 RGB frames, got shape {frames.shape}")
        frames = list(frames)
    checked = []
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(
                f"frame {index}: expected (H, W, 3) uint8 RGB, got shape {frame.shape} "
                f"dtype {frame.dtype}; convert with np.asarray(image.convert('RGB'))"
            )
        checked.append(frame)
    return checked


class FaceDetector(abc.ABC):
    """Find faces in RGB frames; subclasses implement :meth:`_detect_same_size`.

    Args:
        max_size: longest side of the copy the detector searches; larger frames are
            downscaled (``cv2.INTER_AREA``) and the results scaled back. None searches
            at full resolution.
        min_confidence: drop faces scoring below this.
        batch_size: frames searched together (memory vs speed).
    """

    def __init__(
        self, max_size: int | None = 640, min_confidence: float = 0.0, batch_size: int = 32
    ) -> None:
        if max_size is not None and max_size < 32:
            raise ValueError(f"max_size must be at least 32 pixels or null, got {max_size}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.max_size = max_size
        self.min_confidence = float(min_confidence)
        self.batch_size = int(batch_size)

    @abc.abstractmethod
    def _detect_same_size(self, frames: np.ndarray) -> list[list[Face]]:
        """Detect in ``(N, h, w, 3)`` uint8 frames already downscaled; coordinates of those."""

    def _working_size(self, height: int, width: int) -> tuple[int, int]:
        longest = max(height, width)
        if self.max_size is None or longest <= self.max_size:
            return height, width
        ratio = self.max_size / longest
        return max(1, round(height * ratio)), max(1, round(width * ratio))

    def detect(self, frames: Frames) -> list[list[Face]]:
        """Detect faces in each frame.

        Args:
            frames: ``(N, H, W, 3)`` uint8 RGB array or a list of ``(H, W, 3)`` arrays
                (sizes may differ between frames).

        Returns:
            One list per frame, most confident face first, boxes and landmarks in the
            pixels of that frame. An empty list where no face was found.
        """
        frame_list = as_frame_list(frames)
        results: list[list[Face]] = [[] for _ in frame_list]
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, frame in enumerate(frame_list):
            by_shape.setdefault(frame.shape[:2], []).append(index)
        for (height, width), indices in by_shape.items():
            work_h, work_w = self._working_size(height, width)
            scale_x, scale_y = width / work_w, height / work_h
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                if (work_h, work_w) == (height, width):
                    batch = np.stack([frame_list[i] for i in chunk])
                else:
                    batch = np.stack(
                        [
                            cv2.resize(
                                frame_list[i], (work_w, work_h), interpolation=cv2.INTER_AREA
                            )
                            for i in chunk
                        ]
                    )
                for index, faces in zip(chunk, self._detect_same_size(batch), strict=True):
                    kept = [
                        face.scaled(scale_x, scale_y)
                        for face in faces
                        if face.confidence >= self.min_confidence
                    ]
                    results[index] = sorted(kept, key=lambda face: -face.confidence)
        return results

    __call__ = detect


class MTCNNDetector(FaceDetector):
    """MTCNN (facenet-pytorch's trained networks), with five landmarks per face.

    The default search (``max_size`` 640, ``min_face_size`` 40) finds faces of at least
    40 pixels in a 640-pixel copy, i.e. at least 120 pixels in 1920x1080 video and 40
    in 640x480 video; lower ``min_face_size`` for small faces (slower).

    Args:
        device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto``.
        max_size: see :class:`FaceDetector`.
        min_face_size: smallest face searched for, in pixels of the downscaled copy.
        thresholds: PNet, RNet, ONet score thresholds (facenet-pytorch's defaults).
        pyramid_factor: scale step of the image pyramid.
        refine_precision: ``fp32``, ``bf16`` or ``auto`` for the RNet/ONet stages (see
            :class:`datamodules.mtcnn.MTCNNCascade`).
        min_confidence: drop faces below this ONet probability.
        batch_size: frames searched together.
    """

    def __init__(
        self,
        device: str = "cpu",
        max_size: int | None = 640,
        min_face_size: float = 40.0,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        pyramid_factor: float = 0.709,
        refine_precision: str = "auto",
        min_confidence: float = 0.0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(max_size=max_size, min_confidence=min_confidence, batch_size=batch_size)
        from datamodules.mtcnn import MTCNNCascade

        self.cascade = MTCNNCascade(
            device=resolve_device(device),
            min_face_size=min_face_size,
            thresholds=tuple(thresholds),
            pyramid_factor=pyramid_factor,
            refine_precision=refine_precision,
        )

    def _detect_same_size(self, frames: np.ndarray) -> list[list[Face]]:
        detections = self.cascade(frames)
        return [
            [
                Face(box=tuple(float(v) for v in box), confidence=float(score), landmarks=points)
                for box, score, points in zip(out.boxes, out.scores, out.landmarks, strict=True)
            ]
            for out in detections
        ]


class HaarDetector(FaceDetector):
    """OpenCV's Viola-Jones frontal-face cascade: no extra dependency, no landmarks.

    A fallback where facenet-pytorch cannot be installed. It misses profile and tilted
    faces that MTCNN finds and gives more false positives on textured backgrounds.
    ``confidence`` is the logistic of the cascade's level weight (its final-stage
    score), a ranking between faces of one frame, not a calibrated probability.

    Args:
        max_size: see :class:`FaceDetector`.
        cascade: a file name in ``cv2.data.haarcascades`` or a path to a cascade XML.
        scale_factor: pyramid step of ``detectMultiScale``.
        min_neighbors: overlapping raw hits needed to accept a face (higher: fewer
            false positives, more misses).
        min_face_size: smallest face in pixels of the downscaled copy.
        min_confidence: drop faces below this score.
        batch_size: frames per call (the cascade itself runs frame by frame).
    """

    def __init__(
        self,
        max_size: int | None = 640,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_size: int = 40,
        min_confidence: float = 0.0,
        batch_size: int = 32,
    ) -> None:
        super().__init__(max_size=max_size, min_confidence=min_confidence, batch_size=batch_size)
        path = cascade if "/" in cascade or "\\" in cascade else cv2.data.haarcascades + cascade
        self.classifier = cv2.CascadeClassifier(path)
        if self.classifier.empty():
            raise FileNotFoundError(
                f"Could not load the Haar cascade {path}; name a file of cv2.data.haarcascades "
                "(e.g. haarcascade_frontalface_default.xml) or give a path to a cascade XML."
            )
        self.cascade_path = path
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_face_size = int(min_face_size)

    def __getstate__(self) -> dict:
        # cv2.CascadeClassifier cannot be pickled; worker processes reload it from disk.
        state = self.__dict__.copy()
        state.pop("classifier")
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.classifier = cv2.CascadeClassifier(self.cascade_path)

    def _detect_same_size(self, frames: np.ndarray) -> list[list[Face]]:
        results = []
        for frame in frames:
            gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
            rects, _, weights = self.classifier.detectMultiScale3(
                gray,
                scaleFactor=self.scale_factor,
                minNeighbors=self.min_neighbors,
                minSize=(self.min_face_size, self.min_face_size),
                outputRejectLevels=True,
            )
            faces = []
            for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True):
                confidence = 1.0 / (1.0 + math.exp(-float(weight)))
                faces.append(
                    Face(
                        box=(float(x), float(y), float(x + w), float(y + h)), confidence=confidence
                    )
                )
            results.append(faces)
        return results


class WholeFrameDetector(FaceDetector):
    """One "face" per frame: the whole frame, confidence 1.0, no landmarks.

    For videos that are already face crops (VoxCeleb clips, FOMM outputs, the embedded
    talking heads, whose drawn faces MTCNN does not find): running a detector there only
    loses frames where it misses. With the whole-frame box, the crop policies give the
    whole frame (any margin is clipped to the frame; ``scale`` pads non-square frames).

    Args:
        batch_size: frames per call (nothing is computed; kept for the interface).
    """

    def __init__(self, batch_size: int = 32) -> None:
        super().__init__(max_size=None, min_confidence=0.0, batch_size=batch_size)

    def _detect_same_size(self, frames: np.ndarray) -> list[list[Face]]:
        height, width = frames.shape[1:3]
        box = (0.0, 0.0, float(width), float(height))
        return [[Face(box=box, confidence=1.0)] for _ in range(len(frames))]
