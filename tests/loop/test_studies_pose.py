import json
import math

import numpy as np
import pytest
from studies_media import one_torch_thread, tiny_fomm, write_videos  # noqa: F401 (autouse fixture)

from datamodules.face_detection import WholeFrameDetector
from fomm.media import InputError
from loop.studies.options import StudyOptions
from loop.studies.pose import pose_study


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pose_videos")
    write_videos(folder, identities=2, videos_per_identity=2, frames=8)
    return folder


def test_pose_study_with_keypoints_pairs_and_initialisations(videos, tmp_path):
    table, summary = pose_study(
        tiny_fomm(),
        StudyOptions(videos, tmp_path, progress=False),
        pose_descriptor="keypoints",
        source_frames_per_video=2,
        cross_pairs_per_video=1,
    )
    # 4 driving videos x (2 same + 1 cross) pairs x 2 initialisations
    assert len(table) == 4 * 3 * 2
    assert set(table["init"]) == {"frame0", "best"}
    assert (table["descriptor"] == "keypoints").all()
    same, cross = table[table["pair_type"] == "same"], table[table["pair_type"] == "cross"]
    assert (cross["source_identity"] != cross["driving_identity"]).all()
    assert (same["source_video"] == same["driving_video"]).all()
    assert np.isfinite(same["l1"]).all() and cross["l1"].isna().all()
    for column in ("kp_consistency", "pose_error", "pose_distance"):
        assert np.isfinite(table[column]).all(), column
    # the best frame is never posed further from the source than frame 0
    assert (table["pose_distance_reference"] <= table["pose_distance"] + 1e-9).all()
    # a source taken from driving frame 0 is posed exactly like it: both runs start there
    first = same[same["source_frame"] == 0]
    assert (first["pose_distance"] < 1e-9).all() and (first["reference_frame"] == 0).all()
    assert first.groupby("pair")["l1"].nunique().eq(1).all()
    written = json.loads((tmp_path / "summary.json").read_text())
    assert "keypoints" in " ".join(written["notes"])
    for name, value in written["results"].items():
        assert value is None or math.isfinite(value), name
        assert value is not None or name in written["null_reasons"]
    assert summary["results"]["l1_same_frame0"] is not None
    for name in ("pose.csv", "pose_summary.csv", "pose_bins.csv", "pose.png"):
        assert (tmp_path / name).is_file(), name


def test_landmarks_need_a_detector_with_landmarks(videos, tmp_path):
    with pytest.raises(InputError, match="pose_descriptor=keypoints"):
        pose_study(
            tiny_fomm(),
            StudyOptions(videos, tmp_path, max_videos=1, progress=False),
            face_detector=WholeFrameDetector(),
        )


def test_unknown_descriptor_is_refused(videos, tmp_path):
    with pytest.raises(InputError, match="landmarks, keypoints"):
        pose_study(tiny_fomm(), StudyOptions(videos, tmp_path), pose_descriptor="mesh")
