"""Face extraction split into shards by video, each resumable, merged into one index."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pipeline_media import write_face_video

from datamodules.extraction.crops import CropSettings
from datamodules.extraction.extract import extract_faces
from datamodules.extraction.log import ExtractionLog
from datamodules.extraction.shards import merge_extraction
from datamodules.shards import Shard

ROOT = Path(__file__).resolve().parents[2]
HAAR = {"_target_": "datamodules.face_detection.HaarDetector", "min_face_size": 20}
OPTIONS = {
    "detector": HAAR,
    "crop": CropSettings(frames_per_video=2),
    "workers": 0,
    "progress": False,
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Six clips with a face, one without, one broken: both shards get some of each kind."""
    folder = tmp_path_factory.mktemp("videos")
    for number in range(6):
        write_face_video(folder / f"clip{number}.mp4", num_frames=4)
    write_face_video(folder / "nested" / "empty.mp4", num_frames=3, faces=False)
    (folder / "broken.mp4").write_bytes(b"not a video")
    return folder


@pytest.fixture(scope="module")
def single(videos, tmp_path_factory):
    """The reference: one unsharded run in this process."""
    out = tmp_path_factory.mktemp("single")
    extract_faces(videos, out, **OPTIONS)
    return out


def assert_same_extraction(merged: Path, single: Path) -> None:
    for table in ("faces.csv", "videos.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(merged / table, keep_default_na=False),
            pd.read_csv(single / table, keep_default_na=False),
        )
    crops = sorted(p.relative_to(single).as_posix() for p in single.rglob("*.jpg"))
    assert crops and crops == sorted(
        p.relative_to(merged).as_posix() for p in merged.rglob("*.jpg")
    )
    for crop in crops:
        assert (merged / crop).read_bytes() == (single / crop).read_bytes()


def test_two_shards_merge_into_the_single_run_index(videos, single, tmp_path):
    out = tmp_path / "out"
    shard_faces = [extract_faces(videos, out, shard=i, num_shards=2, **OPTIONS) for i in (0, 1)]
    assert set(shard_faces[0]["video"]).isdisjoint(shard_faces[1]["video"])
    assert not (out / "faces.csv").exists()  # each shard wrote only its own tables
    assert (out / "faces_shard0of2.csv").is_file() and (out / "videos_shard1of2.csv").is_file()

    summary = merge_extraction(videos, out, 2)
    assert_same_extraction(out, single)
    # Bad input is counted per shard and summed: every video belongs to one shard.
    assert summary["no_face"] == ["nested/empty"] and list(summary["unreadable"]) == ["broken"]
    per_shard = summary["shards"]
    assert [s["shard"] for s in per_shard] == [0, 1]
    assert sum(s["videos"] for s in per_shard) == summary["videos"] == 8
    assert (
        sum(s["no_face"] for s in per_shard) == 1 and sum(s["unreadable"] for s in per_shard) == 1
    )
    assert sum(s["faces"] for s in per_shard) == summary["faces_found"] == 12
    assert json.loads((out / "summary.json").read_text()) == summary

    # A shard resumes on its own: nothing is redone; an unsharded rerun sees it all done.
    extract_faces(videos, out, shard=1, num_shards=2, **OPTIONS)
    rerun = json.loads((out / "summary_shard1of2.json").read_text())
    assert rerun["done_this_run"] == 0 and rerun["shard"] == 1
    extract_faces(videos, out, **OPTIONS)
    assert json.loads((out / "summary.json").read_text())["done_this_run"] == 0


def test_the_merge_refuses_missing_or_unfinished_shards(videos, tmp_path):
    out = tmp_path / "out"
    extract_faces(videos, out, shard=0, num_shards=2, **OPTIONS)
    with pytest.raises(FileNotFoundError, match=r"videos_shard1of2.csv does not exist.*shard=1"):
        merge_extraction(videos, out, 2)
    extract_faces(videos, out, shard=1, num_shards=2, **OPTIONS)
    # What a killed shard leaves: a video without its status row.
    status = ExtractionLog.read_status(out, Shard(1, 2))
    status.iloc[1:].to_csv(out / "videos_shard1of2.csv", index=False)
    with pytest.raises(ValueError, match=r"not processed yet \(shard 1: 1 of \d videos\)"):
        merge_extraction(videos, out, 2)
    fewer = pd.DataFrame({"path": ["clip0.mp4", "clip1.mp4"]})
    with pytest.raises(ValueError, match="lists videos that are not shard 0 of 2 of the given"):
        merge_extraction(fewer, out, 2, root=videos)
    with pytest.raises(ValueError, match="needs num_shards >= 2"):
        merge_extraction(videos, out, 1)
    assert not (out / "faces.csv").exists()


def test_a_sharded_run_refuses_to_overwrite_the_shared_folder(videos, tmp_path):
    with pytest.raises(ValueError, match="the other shards share"):
        extract_faces(videos, tmp_path, shard=0, num_shards=2, overwrite=True, **OPTIONS)
    with pytest.raises(ValueError, match="shard=2 is outside"):
        extract_faces(videos, tmp_path, shard=2, num_shards=2, **OPTIONS)


@pytest.mark.slow
def test_shards_as_a_joblib_multirun_then_merge_on_the_command_line(videos, single, tmp_path):
    out = tmp_path / "out"
    common = [
        f"videos={videos}",
        f"output={out}",
        f"paths.log_dir={tmp_path / 'logs'}",
        "num_shards=2",
    ]
    extraction = ["detector=haar", "detector.min_face_size=20", "frames_per_video=2", "workers=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*arguments: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "datamodules.extraction", *arguments, *common]
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    sharded = run("-m", "launcher=joblib", "shard=0,1", "progress=false", *extraction)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert "is launching 2 jobs" in sharded.stdout  # the shards ran in parallel processes
    assert (out / "faces_shard0of2.csv").is_file() and (out / "faces_shard1of2.csv").is_file()
    merged = run("merge=true")
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert "Merged 2 shards" in merged.stdout
    assert_same_extraction(out, single)
