import json
import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fomm_tool_media import probe, write_talking_video, write_tiny_checkpoint
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from datamodules.extraction.crops import crop_face
from datamodules.face_detection import WholeFrameDetector
from fomm.media import InputError
from loop.fakes.__main__ import main as fakes_main
from loop.fakes.generate import generate_fakes, generate_from_config
from loop.fakes.plan import InputVideo, plan_jobs, split_identities, split_sizes

ROOT = Path(__file__).resolve().parents[2]
SIZE = 32
# Identity k: videos of 3 + k frames; odd identities at 30 fps without audio, even at
# 25 fps with audio; identity 5 at 48 px (re-encoded to the model's 32 px).
IDENTITIES = 6


def identity_spec(k):
    return {
        "frames": 3 + k,
        "fps": 30 if k % 2 else 25,
        "audio": k % 2 == 0,
        "size": 48 if k == 5 else SIZE,
    }


def write_inputs(folder, identities=IDENTITIES):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(identities):
        spec = identity_spec(k)
        for v in range(2):
            write_talking_video(
                folder / f"id{k}#{v}.mp4",
                num_frames=spec["frames"],
                size=spec["size"],
                fps=spec["fps"],
                audio=spec["audio"],
            )
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("fakes")
    checkpoint, config = write_tiny_checkpoint(root, size=SIZE)
    videos = write_inputs(root / "videos")
    output = root / "out"
    labels = generate_fakes(checkpoint, videos, output, config=config, progress=False)
    return {
        "checkpoint": checkpoint,
        "config": config,
        "videos": videos,
        "output": output,
        "labels": labels,
        "summary": json.loads((output / "summary.json").read_text()),
    }


def test_labels_list_every_real_and_fake_with_the_detector_columns(dataset):
    labels, output = dataset["labels"], dataset["output"]
    on_disk = pd.read_csv(output / "labels.csv", keep_default_na=False)
    assert list(on_disk.columns) == [
        "video",
        "path",
        "label",
        "original",
        "split",
        "method",
        "source_identity",
        "driving_video",
        "driving_identity",
    ]
    pd.testing.assert_frame_equal(on_disk, labels, check_dtype=False)
    assert (labels["label"] == 0).sum() == 12 and (labels["label"] == 1).sum() == 12
    assert all((output / path).is_file() for path in labels["path"])
    assert (labels["path"] == labels["video"] + ".mp4").all()
    real = labels[labels["label"] == 0].set_index("video")
    fakes = labels[labels["label"] == 1]
    assert set(fakes["method"]) == {"fomm"} and (real["original"] == "").all()
    assert set(fakes["original"]) == set(real.index)  # every real video is a fake's source
    for _, fake in fakes.iterrows():
        source, driver = real.loc[fake["original"]], real.loc[fake["driving_video"]]
        assert source["split"] == driver["split"] == fake["split"]
        assert source["source_identity"] == fake["source_identity"]
        assert driver["source_identity"] == fake["driving_identity"] != fake["source_identity"]
    summary = dataset["summary"]
    assert summary["complete"] and summary["videos"]["train"] == {"real": 4, "fake": 4}
    assert summary["failed"] == [] and summary["skipped_inputs"] == []


def test_no_identity_appears_in_two_splits_as_source_or_driver(dataset):
    labels = dataset["labels"]
    appearances = pd.concat(
        [
            labels[["source_identity", "split"]].rename(columns={"source_identity": "identity"}),
            labels.loc[labels["label"] == 1, ["driving_identity", "split"]].rename(
                columns={"driving_identity": "identity"}
            ),
        ]
    )
    assert (appearances.groupby("identity")["split"].nunique() == 1).all()
    assert appearances["identity"].nunique() == IDENTITIES
    assert set(labels["split"]) == {"train", "val", "test"}
    listed = dataset["summary"]["identities"]
    assert sum(len(ids) for ids in listed.values()) == len(set().union(*listed.values())) == 6


def test_fakes_take_the_driving_videos_frames_fps_and_audio(dataset):
    fakes = dataset["labels"][dataset["labels"]["label"] == 1]
    for _, fake in fakes.iterrows():
        spec = identity_spec(int(fake["driving_identity"][2:]))
        info = probe(dataset["output"] / fake["path"])
        assert info["frames"] == spec["frames"]
        assert info["fps"] == Fraction(spec["fps"])
        assert info["audio"] == spec["audio"]
        assert (info["width"], info["height"], info["codec"]) == (SIZE, SIZE, "h264")


def test_real_videos_are_reencoded_at_the_models_size_like_the_fakes(dataset):
    real = dataset["labels"][dataset["labels"]["label"] == 0]
    for _, row in real.iterrows():
        spec = identity_spec(int(row["source_identity"][2:]))
        info = probe(dataset["output"] / row["path"])
        assert (info["width"], info["height"], info["codec"]) == (SIZE, SIZE, "h264")
        assert info["frames"] == spec["frames"] and info["audio"] == spec["audio"]
        assert info["fps"] == Fraction(spec["fps"])


def test_rerun_skips_finished_videos_and_refuses_other_settings(dataset, tmp_path):
    output = tmp_path / "copy"
    shutil.copytree(dataset["output"], output)
    labels = dataset["labels"]
    removed = labels["path"][labels["label"] == 1].iloc[0]
    (output / removed).unlink()
    kept = output / labels["path"].iloc[0]
    os.utime(kept, ns=(1, 1))
    args = (dataset["checkpoint"], dataset["videos"], output)
    again = generate_fakes(*args, config=dataset["config"], progress=False)
    pd.testing.assert_frame_equal(again, labels)
    summary = json.loads((output / "summary.json").read_text())
    assert summary["generated_now"] == 1 and summary["already_done"] == 23
    assert (output / removed).is_file() and kept.stat().st_mtime_ns == 1
    with pytest.raises(InputError, match="seed differ.*overwrite=true"):
        generate_fakes(*args, config=dataset["config"], seed=1, progress=False)
    with pytest.raises(InputError, match="did not write"):
        generate_fakes(*args[:2], dataset["videos"], config=dataset["config"], progress=False)


def copy_small_set(dataset, folder):
    """The first video of identities 0-3: 4 sources for a train/test split without val."""
    folder.mkdir()
    for k in range(4):
        shutil.copy(dataset["videos"] / f"id{k}#0.mp4", folder)
    return folder


def test_unreadable_input_is_skipped_listed_and_not_fatal(dataset, tmp_path):
    videos = copy_small_set(dataset, tmp_path / "videos")
    (videos / "id2#7.mp4").write_bytes(b"not a video")
    output = tmp_path / "out"
    labels = generate_fakes(
        dataset["checkpoint"], videos, output, config=dataset["config"], max_frames=2,
        split_fractions={"train": 0.5, "test": 0.5}, progress=False,
    )  # fmt: skip
    summary = json.loads((output / "summary.json").read_text())
    assert [Path(s["path"]).name for s in summary["skipped_inputs"]] == ["id2#7.mp4"]
    assert not labels["video"].str.contains("id2#7").any()
    assert len(labels) == 8 and summary["complete"]
    assert probe(output / labels["path"].iloc[1])["frames"] == 2  # max_frames caps every video
    options = {"config": dataset["config"], "max_frames": 2, "progress": False}
    options["split_fractions"] = {"train": 0.5, "test": 0.5}
    again = generate_fakes(dataset["checkpoint"], videos, output, **options)
    pd.testing.assert_frame_equal(again, labels)  # still unreadable: the dataset is reused
    assert json.loads((output / "summary.json").read_text()) == summary
    shutil.copy(videos / "id2#0.mp4", videos / "id2#7.mp4")  # repaired: it joins the plan
    repaired = generate_fakes(dataset["checkpoint"], videos, output, **options)
    assert len(repaired) == 10 and repaired["video"].str.contains("id2#7").any()
    summary = json.loads((output / "summary.json").read_text())
    assert summary["skipped_inputs"] == [] and summary["already_done"] >= 4


def test_split_sizes_keep_two_identities_in_every_split():
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    assert split_sizes(6, fractions) == {"train": 2, "val": 2, "test": 2}
    assert split_sizes(20, fractions) == {"train": 14, "val": 3, "test": 3}
    assert split_sizes(4, {"train": 0.8, "val": 0.0, "test": 0.2}) == {
        "train": 2,
        "val": 0,
        "test": 2,
    }
    with pytest.raises(InputError, match="5 identities.*6 needed.*split_fractions.val=0"):
        split_sizes(5, fractions)
    names = [f"p{k}" for k in range(30)]
    first, second = split_identities(names, fractions, 3), split_identities(names, fractions, 3)
    assert first == second and set(first) == set(names)
    assert split_identities(names, fractions, 4) != first


def test_plan_pairs_other_identities_of_the_same_split_with_distinct_drivers():
    items = [InputVideo(f"{p}#{v}", Path(f"{p}#{v}.mp4"), p) for p in "abcd" for v in range(2)]
    splits = {"a": "train", "b": "train", "c": "train", "d": "test"}
    jobs, unpaired = plan_jobs(items, splits, fakes_per_video=5, seed=0)
    assert unpaired == ["d#0", "d#1"]  # d is alone in test: no driver of another identity
    fakes = [job for job in jobs if job.label]
    assert len(fakes) == 6 * 5 and len({job.video for job in jobs}) == len(jobs)
    for source in items[:6]:
        drivers = [job.driving.key for job in fakes if job.source == source]
        assert len(drivers) == 5 and len(set(drivers)) == 4  # 4 candidates, then a repeat
        assert all(not key.startswith(source.identity) for key in drivers)
    again, _ = plan_jobs(list(reversed(items)), splits, fakes_per_video=5, seed=0)
    assert {job.video for job in again} == {job.video for job in jobs}


def test_bad_inputs_give_one_clear_message(dataset, tmp_path):
    good = {"videos": dataset["videos"], "output": tmp_path / "o", "config": dataset["config"]}
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"junk")
    other_model = tmp_path / "detector.ckpt"
    torch.save({"state_dict": {"net.weight": torch.zeros(1)}, "hyper_parameters": {}}, other_model)
    cases = [
        ({"checkpoint": tmp_path / "missing.ckpt"}, "missing.ckpt does not exist"),
        ({"videos": tmp_path / "nowhere"}, "videos=.*nowhere does not exist"),
        ({"checkpoint": junk, "config": None}, "junk.ckpt is not a PyTorch checkpoint"),
        ({"checkpoint": other_model, "config": None}, "detector.ckpt cannot be used"),
        ({"fakes_per_video": 0}, "fakes_per_video=0"),
        ({"split_fractions": {"train": 0.5, "holdout": 0.5}}, "unknown split"),
    ]
    for change, message in cases:
        options = {"checkpoint": dataset["checkpoint"], **good, **change}
        with pytest.raises(InputError, match=message):
            generate_fakes(**options, progress=False)


def test_command_line_error_is_one_line_with_status_2(tmp_path, monkeypatch, capsys):
    arguments = [
        f"checkpoint={tmp_path / 'nope.ckpt'}",
        f"videos={tmp_path}",
        f"output={tmp_path / 'out'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    monkeypatch.setattr(sys, "argv", ["fakes.py", *arguments])
    # As under `python -m loop.fakes`: Hydra finds conf/ relative to loop/fakes/__main__.py.
    monkeypatch.setenv("HYDRA_MAIN_MODULE", "__main__")
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as exit_status:
        fakes_main()
    assert exit_status.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert errors == [
        f"error: checkpoint {tmp_path / 'nope.ckpt'} does not exist; check checkpoint="
    ]
    assert not (tmp_path / "out").exists()


def test_cli_config_reaches_every_option(dataset, tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="fakes",
            overrides=[
                f"checkpoint={dataset['checkpoint']}",
                f"config={dataset['config']}",
                f"videos={copy_small_set(dataset, tmp_path / 'videos')}",
                f"output={tmp_path / 'cli'}",
                "split_fractions.val=0",
                "split_fractions.test=0.5",
                "fakes_per_video=2",
                "max_frames=2",
                "progress=false",
            ],
        )
    GlobalHydra.instance().clear()
    labels = generate_from_config(cfg)
    assert set(labels["split"]) == {"train", "test"} and len(labels) == 4 + 8
    settings = json.loads((tmp_path / "cli" / "summary.json").read_text())["settings"]
    assert settings["max_frames"] == 2 and settings["split_fractions"]["val"] == 0
    assert settings["fakes_per_video"] == 2


def test_whole_frame_detector_crops_the_whole_frame():
    frames = [np.random.default_rng(0).integers(0, 255, (40, 30, 3), np.uint8)]
    faces = WholeFrameDetector().detect(frames)
    assert faces[0][0].box == (0.0, 0.0, 30.0, 40.0) and faces[0][0].confidence == 1.0
    assert faces[0][0].landmarks is None
    crop = crop_face(frames[0], faces[0][0].box, policy="tight", size=40, margin=0.0)
    np.testing.assert_array_equal(crop, frames[0])
    square = np.ascontiguousarray(frames[0][:30])
    box = WholeFrameDetector().detect(square)[0][0].box
    np.testing.assert_array_equal(crop_face(square, box, "scale", 30, margin=0.2), square)
