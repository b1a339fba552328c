"""Landmark detectors for self-blending masks: 68 points where installed, else MTCNN's five.

The paper grows its masks from a 68 (81)-point detector. The ``face-alignment`` package
gives 68 points but downloads its weights (the S3FD face detector and the 2D-FAN
network) on first use; this project must run without network access, so it is used
only when the package is installed *and* both weight files are already in torch's hub
cache (``$TORCH_HOME/hub/checkpoints``, where the package puts them). Otherwise the
masks grow from MTCNN's five points, which the project's face detector already gives
(:mod:`fakedetect.self_blend.masks` documents both hulls).

:class:`AutoLandmarkDetector` makes that choice once, logs which detector runs and why,
and is what the configs use. Every detector takes a list of uint8 RGB face crops and
returns, per crop, the ``(K, 2)`` points of its most prominent face or None.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datamodules.devices import resolve_device
from datamodules.face_detection import MTCNNDetector

log = logging.getLogger(__name__)


def _installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it)."""
    return importlib.util.find_spec(package) is not None


def face_alignment_weight_files() -> list[str]:
    """The file names face-alignment downloads for 2D landmarks, for this torch version.

    Read from the installed package's own URL tables, so a new release's names are
    found; empty when the package is not installed or its tables moved.
    """
    try:
        api = importlib.import_module("face_alignment.api")
        sfd = importlib.import_module("face_alignment.detection.sfd.sfd_detector")
    except ImportError:
        return []
    version = ".".join(torch.__version__.split("+")[0].split(".")[:2])
    tables = getattr(api, "models_urls", {})
    urls = tables.get(version) if isinstance(tables.get(version), dict) else None
    urls = urls or getattr(api, "default_model_urls", None) or tables
    fan, detector = urls.get("2DFAN-4"), getattr(sfd, "models_urls", {}).get("s3fd")
    return [Path(url).name for url in (fan, detector) if url]


def face_alignment_status(weights_dir: str | os.PathLike | None = None) -> str | None:
    """None when face-alignment can run offline, else why not (for the log).

    Args:
        weights_dir: where the weight files must be; default torch's hub checkpoints.
    """
    if not _installed("face_alignment"):
        return "the face-alignment package is not installed"
    folder = Path(weights_dir) if weights_dir else Path(torch.hub.get_dir()) / "checkpoints"
    names = face_alignment_weight_files()
    if len(names) < 2:
        return "face-alignment is installed but its weight file names could not be read"
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        return f"face-alignment's weights are not in {folder} (missing {', '.join(missing)})"
    return None


def _largest(candidates: Sequence[np.ndarray]) -> np.ndarray | None:
    """The point set spanning the largest box (the crop's own face, not one behind it)."""
    best, best_area = None, -1.0
    for points in candidates:
        points = np.asarray(points, dtype=np.float32)[:, :2]
        area = float(np.prod(points.max(axis=0) - points.min(axis=0)))
        if area > best_area:
            best, best_area = points, area
    return best


class FaceAlignment68:
    """face-alignment's 2D-FAN: 68 points per crop (its S3FD finds the face in the crop).

    Args:
        device: ``cpu``, ``cuda`` or ``auto``.
        model: an object with face-alignment's ``get_landmarks_from_image`` (tests inject
            one); None builds ``face_alignment.FaceAlignment`` on first use.
    """

    name = "face_alignment_68"
    num_points = 68

    def __init__(self, device: str = "auto", model: Any = None) -> None:
        self.device = device
        self._model = model

    @property
    def model(self) -> Any:
        """The face-alignment model, built on first use."""
        if self._model is None:
            import face_alignment

            kind = getattr(face_alignment.LandmarksType, "TWO_D", None)
            kind = kind if kind is not None else face_alignment.LandmarksType._2D
            self._model = face_alignment.FaceAlignment(
                kind, device=str(resolve_device(self.device)), face_detector="sfd"
            )
        return self._model

    def __call__(self, crops: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """The 68 points of each crop's largest face, or None where none is found."""
        results = []
        for crop in crops:
            found = self.model.get_landmarks_from_image(np.ascontiguousarray(crop))
            results.append(_largest(found) if found else None)
        return results


class MTCNNFivePoints:
    """MTCNN's five points of each crop's most confident face.

    Args:
        device: ``cpu``, ``cuda`` or ``auto``.
        min_face_size: smallest face searched for, in crop pixels (crops are mostly face).
        detector: a ready :class:`~datamodules.face_detection.FaceDetector` with
            landmarks (tests); None builds MTCNN on first use.
    """

    name = "mtcnn_5"
    num_points = 5

    def __init__(self, device: str = "auto", min_face_size: float = 20.0, detector: Any = None):
        self.device = device
        self.min_face_size = min_face_size
        self._detector = detector

    @property
    def detector(self) -> Any:
        """The MTCNN detector, built on first use."""
        if self._detector is None:
            self._detector = MTCNNDetector(
                device=self.device, max_size=None, min_face_size=self.min_face_size
            )
        return self._detector

    def __call__(self, crops: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """The five points of each crop's most confident face, or None."""
        results: list[np.ndarray | None] = []
        for faces in self.detector.detect(list(crops)):
            with_points = [face.landmarks for face in faces if face.landmarks is not None]
            results.append(np.asarray(with_points[0], np.float32) if with_points else None)
        return results


class AutoLandmarkDetector:
    """face-alignment's 68 points where they can run offline, else MTCNN's five.

    The choice is made on first use and logged once with its reason; ``name`` and
    ``num_points`` then describe the detector that runs.

    Args:
        device: ``cpu``, ``cuda`` or ``auto`` for either detector.
        prefer_68: false always uses MTCNN's five points.
        weights_dir: where face-alignment's weights must be (default torch's hub cache).
        min_face_size: MTCNN's smallest face in crop pixels.
    """

    def __init__(
        self,
        device: str = "auto",
        prefer_68: bool = True,
        weights_dir: str | None = None,
        min_face_size: float = 20.0,
    ) -> None:
        self.device = device
        self.prefer_68 = prefer_68
        self.weights_dir = weights_dir
        self.min_face_size = min_face_size
        self._chosen: FaceAlignment68 | MTCNNFivePoints | None = None

    @property
    def chosen(self) -> FaceAlignment68 | MTCNNFivePoints:
        """The detector that runs (chosen and logged on first use)."""
        if self._chosen is None:
            reason = "prefer_68=false"
            if self.prefer_68:
                reason = face_alignment_status(self.weights_dir)
            if reason is None:
                self._chosen = FaceAlignment68(self.device)
                log.info("Self-blend masks: 68-point face-alignment hulls (weights found)")
            else:
                self._chosen = MTCNNFivePoints(self.device, self.min_face_size)
                log.info("Self-blend masks: grown 5-point MTCNN hulls, because %s", reason)
        return self._chosen

    @property
    def name(self) -> str:
        """``face_alignment_68`` or ``mtcnn_5``."""
        return self.chosen.name

    @property
    def num_points(self) -> int:
        """68 or 5."""
        return self.chosen.num_points

    def __call__(self, crops: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """The chosen detector's points for each crop (None where it finds no face)."""
        return self.chosen(crops)
