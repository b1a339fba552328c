"""The fakes generator split into shards by source video, merged into the single-run labels."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fomm_tool_media import write_talking_video, write_tiny_checkpoint

from fomm.media import InputError
from loop.fakes.generate import generate_fakes
from loop.fakes.shards import merge_fakes

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakes_shards")
    checkpoint, config = write_tiny_checkpoint(root, size=SIZE)
    videos = root / "videos"
    videos.mkdir()
    for identity in range(4):
        write_talking_video(videos / f"id{identity}#0.mp4", num_frames=3, size=SIZE, audio=False)
    (videos / "id0#1.mp4").write_bytes(b"not a video")  # skipped, by every shard
    options = {
        "checkpoint": checkpoint,
        "config": config,
        "videos": videos,
        "split_fractions": {"train": 0.5, "val": 0.0, "test": 0.5},
        "fakes_per_video": 2,
        "device": "cpu",
        "progress": False,
    }
    single = root / "single"
    return {
        "options": options,
        "single": single,
        "labels": generate_fakes(output=single, **options),
    }


def written(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.mp4"))


def test_two_shards_merge_into_the_single_run_labels(inputs, tmp_path):
    options, single = inputs["options"], inputs["single"]
    out = tmp_path / "out"
    parts = [generate_fakes(output=out, shard=i, num_shards=2, **options) for i in (0, 1)]
    sources = [set(part["original"].where(part["label"] == 1, part["video"])) for part in parts]
    assert sources[0] and sources[1] and sources[0].isdisjoint(sources[1])  # split by source
    assert not (out / "labels.csv").exists()

    labels = merge_fakes(out, 2)
    pd.testing.assert_frame_equal(labels, inputs["labels"])
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "labels.csv", keep_default_na=False),
        pd.read_csv(single / "labels.csv", keep_default_na=False),
    )
    assert written(out) == written(single) == sorted(labels["path"])
    merged = json.loads((out / "summary.json").read_text())
    reference = json.loads((single / "summary.json").read_text())
    for key in ("complete", "videos", "identities", "skipped_inputs", "failed"):
        assert merged[key] == reference[key], key
    assert merged["frames_generated"] == reference["frames_generated"]
    assert len(merged["skipped_inputs"]) == 1 and merged["merged_shards"] == 2
    assert sum(shard["videos"] for shard in merged["shards"]) == len(labels)

    # Merged, the folder is a finished dataset: an unsharded call reuses it as it is.
    before = {path: (out / path).stat().st_mtime_ns for path in written(out)}
    again = generate_fakes(output=out, **options)
    pd.testing.assert_frame_equal(again, labels)
    assert before == {path: (out / path).stat().st_mtime_ns for path in written(out)}


def test_a_shard_resumes_on_its_own_and_the_merge_refuses_missing_shards(inputs, tmp_path):
    options = inputs["options"]
    out = tmp_path / "out"
    first = generate_fakes(output=out, shard=1, num_shards=3, **options)
    (out / first["path"].iloc[-1]).unlink()  # a video lost with a killed run
    generate_fakes(output=out, shard=1, num_shards=3, **options)
    summary = json.loads((out / "summary_shard1of3.json").read_text())
    assert summary["generated_now"] == 1 and summary["already_done"] == len(first) - 1
    assert summary["shard"] == 1 and summary["num_shards"] == 3
    with pytest.raises(InputError, match=r"summary_shard0of3.json does not exist.*shard=0"):
        merge_fakes(out, 3)
    with pytest.raises(InputError, match="needs num_shards >= 2"):
        merge_fakes(out, 1)
    with pytest.raises(InputError, match="the other shards share"):
        generate_fakes(output=out, shard=0, num_shards=3, overwrite=True, **options)
    with pytest.raises(InputError, match="shard=3 is outside 0..2"):
        generate_fakes(output=out, shard=3, num_shards=3, **options)


@pytest.mark.slow
def test_shards_as_a_joblib_multirun_then_merge_on_the_command_line(inputs, tmp_path):
    options, out = inputs["options"], tmp_path / "out"
    common = [f"output={out}", f"paths.log_dir={tmp_path / 'logs'}", "num_shards=2"]
    generation = [f"{key}={options[key]}" for key in ("checkpoint", "config", "videos")]
    generation += ["split_fractions.val=0", "split_fractions.train=0.5", "split_fractions.test=0.5"]
    generation += ["fakes_per_video=2", "device=cpu", "progress=false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*arguments: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "loop.fakes", *arguments, *common]
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    sharded = run("-m", "launcher=joblib", "shard=0,1", *generation)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert "is launching 2 jobs" in sharded.stdout
    merged = run("merge=true")
    assert merged.returncode == 0, merged.stderr[-3000:]
    assert f"{out}: train" in merged.stdout
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "labels.csv", keep_default_na=False),
        pd.read_csv(inputs["single"] / "labels.csv", keep_default_na=False),
    )
    assert written(out) == written(inputs["single"])
