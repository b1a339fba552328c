import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from pipeline_media import write_face_video

from datamodules.extraction.crops import CropSettings, crop_face
from datamodules.extraction.extract import extract_faces
from datamodules.extraction.log import FACES_COLUMNS, OPTIONAL_FACES_COLUMNS, ExtractionLog
from datamodules.face_detection import Face, FaceDetector, MTCNNDetector
from datamodules.video_io import open_video

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def detector():
    return MTCNNDetector(min_face_size=20, refine_precision="fp32")


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_face_video(folder / "landscape.mp4", num_frames=12)
    write_face_video(folder / "nested" / "portrait.mp4", num_frames=10, height=320, width=180)
    write_face_video(folder / "empty_scene.mp4", num_frames=8, faces=False)
    (folder / "broken.mp4").write_bytes(b"this is not a video")
    (folder / "notes.txt").write_text("not a video either")
    return folder


def test_extraction_of_a_folder(detector, video_folder, tmp_path):
    out = tmp_path / "faces"
    faces = extract_faces(
        video_folder,
        out,
        detector=detector,
        crop=CropSettings(frames_per_video=4),
        workers=0,
        progress=False,
    )
    assert list(faces.columns) == FACES_COLUMNS + OPTIONAL_FACES_COLUMNS
    assert sorted(faces["video"].unique()) == ["landscape", "nested/portrait"]
    # MTCNN's five points, stored in crop pixels: inside the 224-pixel crop
    landmarks = faces[OPTIONAL_FACES_COLUMNS].to_numpy()
    assert ((landmarks > 0) & (landmarks < 224)).all()
    assert len(faces) == 8 and (faces["face_rank"] == 0).all()
    assert sorted(faces[faces["video"] == "landscape"]["frame"]) == [0, 4, 7, 11]
    for row in faces.itertuples():
        crop = cv2.imread(str(out / row.path))
        assert crop.shape == (224, 224, 3)
        assert row.left < row.right and row.top < row.bottom and row.confidence > 0.9
    portrait = faces[faces["video"] == "nested/portrait"]
    assert (portrait["right"] <= 180 + 5).all() and (portrait["bottom"] <= 320 + 5).all()

    status = ExtractionLog.read_status(out).set_index("video")
    assert status.loc["landscape", "status"] == "ok"
    assert status.loc["landscape", "frames_with_face"] == 4
    assert status.loc["empty_scene", "status"] == "no_face"
    assert status.loc["broken", "status"] == "unreadable"
    assert "broken.mp4" in status.loc["broken", "message"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done_this_run"] == 3 and summary["faces_found"] == 8
    assert summary["no_face"] == ["empty_scene"] and list(summary["unreadable"]) == ["broken"]

    again = extract_faces(
        video_folder,
        out,
        detector=detector,
        crop=CropSettings(frames_per_video=4),
        workers=0,
        progress=False,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_already_done"] == 3 and summary["done_this_run"] == 0
    pd.testing.assert_frame_equal(again, faces)

    with pytest.raises(ValueError, match="frames_per_video: 4 -> 8"):
        extract_faces(
            video_folder, out, detector=detector, crop=CropSettings(frames_per_video=8), workers=0
        )


def test_a_half_written_video_is_redone_without_duplicates(detector, video_folder, tmp_path):
    out = tmp_path / "faces"
    index = pd.DataFrame(
        {"video": ["landscape", "portrait"], "path": ["landscape.mp4", "nested/portrait.mp4"]}
    )
    options = dict(
        detector=detector,
        crop=CropSettings(frames_per_video=3),
        workers=0,
        progress=False,
        root=video_folder,
    )
    extract_faces(index, out, **options)
    complete = ExtractionLog.read_faces(out)
    # What a kill between the face rows and the status row leaves: face rows of a video
    # without its status row, a torn last line, and crops on disk.
    status = ExtractionLog.read_status(out)
    status[status["video"] != "portrait"].to_csv(out / "videos.csv", index=False)
    with (out / "faces.csv").open("a") as handle:
        handle.write("portrait,3,crops/portrait/000003_0.jpg,1.0,2")
    (out / "crops" / "portrait" / "999999_0.jpg").write_bytes(b"stale")

    faces = extract_faces(index, out, **options)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_already_done"] == 1 and summary["done_this_run"] == 1
    pd.testing.assert_frame_equal(
        faces.sort_values(["video", "frame"]).reset_index(drop=True),
        complete.sort_values(["video", "frame"]).reset_index(drop=True),
    )
    assert not (out / "crops" / "portrait" / "999999_0.jpg").exists()
    assert len(ExtractionLog.read_status(out)) == 2


def test_index_csv_with_relative_paths_and_haar_in_worker_processes(video_folder, tmp_path):
    index_csv = video_folder / "index.csv"
    pd.DataFrame(
        {"video": ["a", "b"], "path": ["landscape.mp4", "nested/portrait.mp4"], "label": [0, 1]}
    ).to_csv(index_csv, index=False)
    haar = {
        "_target_": "datamodules.face_detection.HaarDetector",
        "min_face_size": 20,
        "min_neighbors": 3,
    }
    faces = extract_faces(
        index_csv,
        tmp_path / "haar",
        detector=haar,
        crop=CropSettings(frames_per_video=3, policy="tight", size=96),
        workers=2,
        progress=False,
    )
    assert sorted(faces["video"].unique()) == ["a", "b"]
    crop = cv2.imread(str(tmp_path / "haar" / faces["path"].iloc[0]))
    assert max(crop.shape[:2]) == 96


class FailingDetector(FaceDetector):
    """Fails on frames taller than 300 pixels, as a detector bug on some videos would."""

    def _detect_same_size(self, frames):
        if frames.shape[1] > 300:
            raise RuntimeError("detector crashed")
        return [[] for _ in frames]


def test_a_failure_on_one_video_is_recorded_and_the_run_goes_on(video_folder, tmp_path):
    extract_faces(
        video_folder,
        tmp_path,
        detector=FailingDetector(),
        crop=CropSettings(frames_per_video=2),
        workers=0,
    )
    status = ExtractionLog.read_status(tmp_path).set_index("video")["status"].to_dict()
    assert status == {
        "broken": "unreadable",
        "empty_scene": "no_face",
        "landscape": "no_face",
        "nested/portrait": "error",
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "RuntimeError: detector crashed" in summary["unreadable"]["nested/portrait"]


class FixedBox(FaceDetector):
    """Finds one face at the same box in every frame, so crops are known exactly."""

    box = (120.0, 110.0, 200.0, 170.0)

    def __init__(self) -> None:
        super().__init__(max_size=None)

    def _detect_same_size(self, frames):
        return [[Face(box=self.box, confidence=0.99)] for _ in frames]


@pytest.mark.parametrize("policy", ["tight", "scale"])
def test_crops_follow_the_configured_margin(tmp_path, policy):
    """Crops at margin 0.5 are crop_face's at 0.5: another box than the default 0.2's."""
    video = write_face_video(tmp_path / "clip.mp4", num_frames=3)
    crop = CropSettings(policy=policy, size=64, margin=0.5)
    faces = extract_faces(
        video, tmp_path / "out", FixedBox(), crop, jpeg_quality=100, workers=0, progress=False
    )
    with open_video(video) as source:
        frames = source.read(list(faces["frame"]))
    assert len(frames) == 3
    for frame, row in zip(frames, faces.itertuples(), strict=True):
        saved = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / row.path)), cv2.COLOR_BGR2RGB)
        expected = crop_face(frame, FixedBox.box, policy, 64, margin=0.5)
        assert saved.shape == expected.shape
        assert np.abs(saved.astype(int) - expected.astype(int)).mean() < 2  # JPEG, quality 100
        default = crop_face(frame, FixedBox.box, policy, 64)
        assert default.shape != expected.shape or np.abs(default.astype(int) - saved).mean() > 10


def test_clear_errors_for_bad_inputs(tmp_path, detector):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        extract_faces(tmp_path / "missing", tmp_path / "out", detector=detector)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No video files"):
        extract_faces(tmp_path / "empty", tmp_path / "out", detector=detector)
    with pytest.raises(ValueError, match="no 'path' column"):
        extract_faces(pd.DataFrame({"video": ["x"]}), tmp_path / "out", detector=detector)
    with pytest.raises(ValueError, match="policy"):
        extract_faces(tmp_path / "empty", tmp_path / "out", crop=CropSettings(policy="crop"))


@pytest.mark.slow
def test_a_killed_extraction_resumes(tmp_path):
    videos = tmp_path / "videos"
    for number in range(5):
        write_face_video(videos / f"clip{number}.mp4", num_frames=24)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "datamodules.extraction", f"videos={videos}", f"output={out}",
        "frames_per_video=24", "workers=0", "detector.min_face_size=20",
        "detector.refine_precision=fp32", f"paths.log_dir={tmp_path / 'logs'}", "progress=false",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    status_csv = out / "videos.csv"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if status_csv.is_file() and len(status_csv.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = len(ExtractionLog.read_status(out))
    assert 1 <= finished_before < 5, "the run should have been killed part-way"

    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_already_done"] == finished_before
    assert summary["done_this_run"] == 5 - finished_before
    faces = ExtractionLog.read_faces(out)
    assert len(faces) == 5 * 24
    assert not faces.duplicated(["video", "frame", "face_rank"]).any()


@pytest.mark.slow
def test_command_line_errors_are_one_line(tmp_path):
    command = [sys.executable, "-m", "datamodules.extraction", f"videos={tmp_path / 'nothing'}"]
    command += [f"output={tmp_path / 'out'}", f"paths.log_dir={tmp_path / 'logs'}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: videos=")
    assert "Traceback" not in result.stderr
