"""Mask landmarks: face-alignment's 68 points where installed, MTCNN's five otherwise, cached."""

import logging
import sys
import types

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from pipeline_media import draw_face

from datamodules.face_landmarks import LANDMARK_COLUMNS, landmark_columns
from datamodules.self_blend_landmarks import resolve_crop_landmarks
from fakedetect.self_blend import landmarks as landmarks_module
from fakedetect.self_blend.landmarks import (
    AutoLandmarkDetector,
    FaceAlignment68,
    MTCNNFivePoints,
    face_alignment_status,
)

FAN_URL = "https://example.org/python-fan/2DFAN4-test.zip"
SFD_URL = "https://example.org/python-fan/s3fd-test.pth"


@pytest.fixture
def fake_face_alignment(monkeypatch):
    """An installed face-alignment package (its URL tables only), as sys.modules sees it."""
    package = types.ModuleType("face_alignment")
    package.__path__ = []
    api = types.ModuleType("face_alignment.api")
    api.default_model_urls = {"2DFAN-4": FAN_URL}
    api.models_urls = {}
    sfd = types.ModuleType("face_alignment.detection.sfd.sfd_detector")
    sfd.models_urls = {"s3fd": SFD_URL}
    modules = {
        "face_alignment": package,
        "face_alignment.api": api,
        "face_alignment.detection": types.ModuleType("face_alignment.detection"),
        "face_alignment.detection.sfd": types.ModuleType("face_alignment.detection.sfd"),
        "face_alignment.detection.sfd.sfd_detector": sfd,
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(landmarks_module, "_installed", lambda name: name in modules)
    return modules


class FakeFan:
    """face-alignment's interface: 68 points per face found, the larger face first or not."""

    def __init__(self):
        self.calls = 0

    def get_landmarks_from_image(self, image):
        self.calls += 1
        height, width = image.shape[:2]
        if height < 30:
            return None  # face-alignment's answer when it finds no face
        big = np.stack([np.linspace(0.2, 0.8, 68) * width, np.linspace(0.2, 0.8, 68) * height], 1)
        return [big * 0.2, big]  # a small face behind, then the crop's own face


def test_face_alignment_is_unavailable_when_not_installed(monkeypatch):
    monkeypatch.setattr(landmarks_module, "_installed", lambda name: False)
    assert "not installed" in face_alignment_status()


def test_face_alignment_needs_both_weight_files_where_the_package_keeps_them(
    fake_face_alignment, tmp_path, monkeypatch
):
    reason = face_alignment_status(tmp_path)
    assert "2DFAN4-test.zip" in reason and "s3fd-test.pth" in reason and str(tmp_path) in reason
    (tmp_path / "2DFAN4-test.zip").write_bytes(b"x")
    assert "s3fd-test.pth" in face_alignment_status(tmp_path)
    (tmp_path / "s3fd-test.pth").write_bytes(b"x")
    assert face_alignment_status(tmp_path) is None
    # the default folder is torch's hub cache, where the package downloads to
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in face_alignment_status()


def test_auto_detector_uses_68_points_when_available_and_logs_it(
    fake_face_alignment, tmp_path, monkeypatch, caplog
):
    for name in ("2DFAN4-test.zip", "s3fd-test.pth"):
        (tmp_path / name).write_bytes(b"x")
    fan = FakeFan()
    monkeypatch.setattr(FaceAlignment68, "model", property(lambda self: fan))
    detector = AutoLandmarkDetector(device="cpu", weights_dir=str(tmp_path))
    crops = [np.zeros((100, 80, 3), np.uint8), np.zeros((50, 50, 3), np.uint8)]
    with caplog.at_level(logging.INFO, logger=landmarks_module.__name__):
        points = detector(crops)
        detector(crops[:1])
    assert detector.name == "face_alignment_68" and detector.num_points == 68
    assert points[0].shape == (68, 2) and points[0][:, 0].max() == pytest.approx(64)  # larger face
    assert fan.calls == 3
    chosen = [r.message for r in caplog.records if "Self-blend masks" in r.message]
    assert chosen == ["Self-blend masks: 68-point face-alignment hulls (weights found)"]


def test_auto_detector_falls_back_to_five_mtcnn_points_and_says_why(monkeypatch, caplog):
    monkeypatch.setattr(landmarks_module, "_installed", lambda name: False)
    detector = AutoLandmarkDetector(device="cpu")
    with caplog.at_level(logging.INFO, logger=landmarks_module.__name__):
        assert detector.name == "mtcnn_5" and detector.num_points == 5
        assert isinstance(detector.chosen, MTCNNFivePoints)
    (message,) = [r.message for r in caplog.records if "Self-blend masks" in r.message]
    assert "5-point MTCNN" in message and "not installed" in message


def test_mtcnn_finds_the_five_points_of_a_drawn_face():
    crop = np.full((180, 180, 3), (90, 120, 160), dtype=np.uint8)
    cx, cy, size = 90, 96, 64
    draw_face(crop, (cx, cy), size)
    (points,) = MTCNNFivePoints(device="cpu")([crop])
    eyes = [
        [cx - int(0.22 * size), cy - int(0.12 * size)],
        [cx + int(0.22 * size), cy - int(0.12 * size)],
    ]
    np.testing.assert_allclose(points[:2], eyes, atol=4)
    assert abs(points[3:, 1].mean() - (cy + int(0.36 * size))) < 6  # the mouth line
    assert points[3, 0] < cx < points[4, 0]
    assert MTCNNFivePoints(device="cpu", detector=MTCNNFivePoints(device="cpu").detector)(
        [np.full((60, 60, 3), 128, np.uint8)]
    ) == [None]


class CountingDetector:
    """A five-point detector that records which crops it saw."""

    name, num_points = "counting_5", 5

    def __init__(self):
        self.seen = []

    def __call__(self, crops):
        self.seen += [crop.shape for crop in crops]
        return [None if crop.shape[0] == 30 else np.full((5, 2), 7.0, np.float32) for crop in crops]


def test_stored_points_first_then_the_detector_once_per_crop_then_none(tmp_path):
    for name, side in (("a.jpg", 40), ("b.jpg", 40), ("c.jpg", 30)):
        cv2.imwrite(str(tmp_path / name), np.zeros((side, side, 3), np.uint8))
    stored = landmark_columns(np.arange(10, dtype=float).reshape(5, 2))
    table = pd.DataFrame(
        [
            {"path": "a.jpg", **stored},
            {"path": "b.jpg", **landmark_columns(None)},
            {"path": "c.jpg", **landmark_columns(None)},
            {"path": "missing.jpg", **landmark_columns(None)},
        ]
    )
    detector = CountingDetector()
    found = resolve_crop_landmarks(table, tmp_path, detector, progress=False)
    assert found.sources == ["stored_5", "counting_5", "none", "none"]
    np.testing.assert_array_equal(found.points[0], np.arange(10).reshape(5, 2))
    assert found.points[1][0, 0] == 7 and found.points[2] is None
    assert len(detector.seen) == 2  # not a.jpg (stored); missing.jpg cannot be read
    assert found.counts() == {"stored_5": 1, "counting_5": 1, "none": 2}
    assert (tmp_path / "self_blend_landmarks" / "counting_5.npz").is_file()
    again = CountingDetector()
    assert resolve_crop_landmarks(table, tmp_path, again, progress=False).sources == found.sources
    assert again.seen == []  # cached, the no-face answers too


def test_a_68_point_detector_comes_before_stored_five_points(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.jpg"), np.zeros((20, 20, 3), np.uint8))
    table = pd.DataFrame({"path": ["a.jpg", "b.jpg"]})
    for column, value in landmark_columns(np.ones((5, 2))).items():
        table[column] = value
    fan = FaceAlignment68(model=FakeFan())
    found = resolve_crop_landmarks(table, tmp_path, fan, progress=False, cache_dir=tmp_path / "c")
    assert found.sources == ["face_alignment_68", "stored_5"]  # stored where it finds no face
    assert found.points[0].shape == (68, 2) and found.points[1].shape == (5, 2)
    assert set(LANDMARK_COLUMNS) <= set(table.columns)
