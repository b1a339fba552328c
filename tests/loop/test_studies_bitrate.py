import json
import math

import av
import numpy as np
import pandas as pd
import pytest
from pipeline_checkpoints import write_tiny_checkpoint
from studies_media import (  # noqa: F401 (autouse fixture)
    one_torch_thread,
    tiny_fomm,
    tiny_scorer,
    write_videos,
)

from fomm.media import InputError
from loop.studies.bitrate import bitrate_study, setting_name
from loop.studies.measures import keypoint_jitter
from loop.studies.options import StudyOptions


def decoded_frames(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bitrate_videos")
    write_videos(folder, identities=2, videos_per_identity=1, frames=12)
    return folder


def test_bitrate_study_110k_is_smaller_than_8m_with_the_same_frames(videos, tmp_path):
    scorer = tiny_scorer(write_tiny_checkpoint(tmp_path / "detector.ckpt"))
    table, summary = bitrate_study(
        tiny_fomm(),
        StudyOptions(videos, tmp_path / "out", progress=False),
        bitrates=(8_000_000, 110_000),
        scorer=scorer,
        relative=True,
    )
    assert set(table["setting"]) == {"original", "110k", "8M"}
    assert len(table) == 2 * 3
    for _, rows in table.groupby("video"):
        rows = rows.set_index("setting")
        assert rows.loc["110k", "file_bytes"] < rows.loc["8M", "file_bytes"]
        assert rows.loc["110k", "actual_bitrate"] < rows.loc["8M", "actual_bitrate"]
        for setting in ("110k", "8M"):
            assert rows.loc[setting, "frames"] == 12
            assert decoded_frames(rows.loc[setting, "path"]) == 12
        assert rows.loc["original", "kp_error"] == 0
    numeric = [
        "l1",
        "l1_relative",
        "kp_jitter",
        "kp_speed",
        "kp_error",
        "detector_score",
        "detector_score_driving",
        "driving_mae",
        "actual_bitrate",
    ]
    assert np.isfinite(table[numeric].to_numpy(dtype=float)).all()
    out = tmp_path / "out"
    for name in ("bitrate.csv", "bitrate_summary.csv", "bitrate.png", "summary.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "videos").glob("*.mp4"))) == 2 * 3
    written = json.loads((out / "summary.json").read_text())
    assert written["results"] == summary["results"]
    for name, value in written["results"].items():
        assert value is None or math.isfinite(value), name
        assert value is not None or name in written["null_reasons"]
    assert written["results"]["l1_110k"] is not None
    by_setting = pd.read_csv(out / "bitrate_summary.csv")
    assert by_setting["setting"].tolist() == ["original", "110k", "8M"]


def test_bitrate_study_resumes_and_refuses_other_settings(videos, tmp_path):
    networks = tiny_fomm()
    options = {"bitrates": (50_000,), "save_videos": False}
    one, two = (StudyOptions(videos, tmp_path, max_videos=n, progress=False) for n in (1, 2))
    _, first = bitrate_study(networks, one, **options)
    assert first["items"] == 1 and first["items_resumed"] == 0
    _, again = bitrate_study(networks, two, **options)
    assert again["items"] == 2 and again["items_resumed"] == 1
    with pytest.raises(InputError, match="other settings.*bitrates"):
        bitrate_study(networks, one, **options | {"bitrates": (60_000,)})


def test_bitrate_below_the_encoder_floor_is_refused(videos, tmp_path):
    with pytest.raises(InputError, match="bitrate_scale"):
        bitrate_study(
            tiny_fomm(), StudyOptions(videos, tmp_path), bitrates=(110_000,), bitrate_scale=0.001
        )


def test_keypoint_jitter_measures_only_fast_motion():
    frames = np.arange(40)[:, None, None]
    still = np.zeros((40, 3, 2))
    slow = np.broadcast_to(0.3 * np.sin(frames / 12.0), (40, 3, 2))
    shaky = still + 0.02 * (-1.0) ** frames
    assert keypoint_jitter(still, 2.0, 64) == 0
    assert keypoint_jitter(slow, 2.0, 64) < keypoint_jitter(shaky, 2.0, 64)
    assert keypoint_jitter(shaky, 2.0, 64) == pytest.approx(0.02 * np.sqrt(2) * 32, rel=0.1)
    assert math.isnan(keypoint_jitter(still[:1], 2.0, 64))


def test_setting_names():
    assert [setting_name(b) for b in (110_000, 1_000_000, 8_000_000, 1_100, 2_500_000)] == [
        "110k",
        "1M",
        "8M",
        "1.1k",
        "2.5M",
    ]
