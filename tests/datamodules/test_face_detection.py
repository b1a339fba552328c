import pickle

import numpy as np
import pytest
import torch
from pipeline_media import empty_frame, face_frame
from torchvision.ops import box_iou

from datamodules.face_detection import Face, HaarDetector, MTCNNDetector, WholeFrameDetector
from datamodules.mtcnn import MTCNNCascade


@pytest.fixture(scope="module")
def mtcnn():
    return MTCNNDetector(device="cpu", min_face_size=20, refine_precision="fp32")


def iou(box_a, box_b) -> float:
    pair = [torch.as_tensor(np.asarray([box], np.float32)) for box in (box_a, box_b)]
    return box_iou(*pair).item()


def assert_face_matches(face: Face, skin_box, min_iou: float = 0.5) -> None:
    assert iou(face.box, skin_box) > min_iou, (face.box, skin_box)


@pytest.mark.parametrize(
    ("height", "width"),
    [(240, 320), (640, 360), (1080, 1920), (1920, 1080)],
    ids=["small", "portrait", "1080p", "1080p-portrait"],
)
def test_mtcnn_finds_the_face_at_any_resolution_and_orientation(mtcnn, height, width):
    frame, skin_box = face_frame(height, width)
    (faces,) = mtcnn.detect(frame[None])
    assert len(faces) == 1
    face = faces[0]
    assert_face_matches(face, skin_box)
    assert 0.9 < face.confidence <= 1.0
    assert face.landmarks.shape == (5, 2)
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    for x, y in face.landmarks:
        assert face.box[0] <= x <= face.box[2] and face.box[1] <= y <= face.box[3]


def test_frames_of_different_sizes_and_frames_without_faces(mtcnn):
    small, small_box = face_frame(240, 320)
    tall, tall_box = face_frame(640, 360, center=(180, 200))
    results = mtcnn.detect([small, empty_frame(200, 300), tall, small])
    assert [len(faces) for faces in results] == [1, 0, 1, 1]
    assert_face_matches(results[0][0], small_box)
    assert_face_matches(results[2][0], tall_box)
    assert results[3][0].box == pytest.approx(results[0][0].box)


def test_faces_are_sorted_by_confidence_and_filtered(mtcnn):
    frame, _ = face_frame(240, 480, center=(120, 120), size=50)
    face_frame_right, _ = face_frame(240, 480, center=(360, 120), size=50)
    frame[:, 240:] = face_frame_right[:, 240:]
    (faces,) = mtcnn.detect(frame)
    assert len(faces) == 2
    assert faces[0].confidence >= faces[1].confidence
    strict = MTCNNDetector(min_face_size=20, min_confidence=1.1)
    assert strict.detect(frame) == [[]]


def test_cascade_agrees_with_facenet_pytorch():
    facenet = pytest.importorskip("facenet_pytorch")
    frame, _ = face_frame(360, 480, center=(200, 170), size=70)
    reference = facenet.MTCNN(keep_all=True, min_face_size=20, select_largest=False)
    boxes, probs, points = reference.detect(frame, landmarks=True)
    (ours,) = MTCNNCascade(min_face_size=20, refine_precision="fp32")(frame[None])
    assert len(ours.boxes) == len(boxes) == 1
    assert iou(ours.boxes[0], boxes[0]) > 0.9
    assert abs(ours.scores[0] - probs[0]) < 0.01
    assert np.abs(ours.landmarks[0] - points[0]).max() < 4.0


def test_haar_finds_the_face_without_landmarks():
    detector = HaarDetector(min_face_size=20)
    frame, skin_box = face_frame(480, 640)
    (faces,), (nothing,) = detector.detect(frame), detector.detect(empty_frame(480, 640))
    assert len(faces) >= 1 and nothing == []
    assert_face_matches(faces[0], skin_box, min_iou=0.4)
    assert faces[0].landmarks is None
    assert 0.0 < faces[0].confidence < 1.0
    restored = pickle.loads(pickle.dumps(detector))
    assert restored.detect(frame)[0][0].box == faces[0].box


def test_bad_input_and_settings_get_clear_errors(mtcnn, tmp_path):
    with pytest.raises(ValueError, match="uint8 RGB"):
        mtcnn.detect(np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 RGB"):
        mtcnn.detect([np.zeros((32, 32), np.uint8)])
    with pytest.raises(ValueError, match="min_face_size"):
        MTCNNDetector(min_face_size=5)
    with pytest.raises(ValueError, match="thresholds"):
        MTCNNDetector(thresholds=(0.5, 0.5))
    with pytest.raises(FileNotFoundError, match="haarcascades"):
        HaarDetector(cascade="no_such_cascade.xml")
    assert mtcnn.detect([]) == []


def test_face_geometry_helpers():
    face = Face(box=(10.0, 20.0, 30.0, 60.0), confidence=0.9, landmarks=np.ones((5, 2), np.float32))
    assert (face.width, face.height, face.area, face.center) == (20.0, 40.0, 800.0, (20.0, 40.0))
    doubled = face.scaled(2.0, 3.0)
    assert doubled.box == (20.0, 60.0, 60.0, 180.0)
    assert doubled.landmarks[0].tolist() == [2.0, 3.0]


def test_whole_frame_detector_returns_each_frame_as_its_face():
    frames = [empty_frame(120, 80), empty_frame(64, 64)]
    (first,), (second,) = WholeFrameDetector().detect(frames)
    assert first.box == (0.0, 0.0, 80.0, 120.0) and second.box == (0.0, 0.0, 64.0, 64.0)
    assert first.confidence == 1.0 and first.landmarks is None
