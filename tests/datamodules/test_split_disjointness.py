"""Every data config splits train/val/test without leaks, on tiny data in its own layout.

For each ``conf/data/*.yaml`` the test writes a small dataset the way that dataset comes
(official folders, index layouts, a FOMM dataset for the fakes), builds the splits through
the config's own DataModule, and checks: every split non-empty; no video, no person and no
original (a real video with its fakes) in two splits, so validation never sees test; and
every input video in a split, unless it is a fake showing people of two splits (the one
thing a builder may leave out, and it says so). A new data config without a case here
fails, so nobody adds a dataset whose splits are unchecked.
"""

from __future__ import annotations

import functools
from itertools import combinations
from pathlib import Path

import hydra
import pandas as pd
import pytest
from index_layouts import FFPP_PAIRS, touch, write_celebdf, write_dfdc_part, write_ffpp

from datamodules.fomm_layout import identity_of
from datamodules.indexes.ffpp import PAPER_METHODS
from loop.fakes.plan import check_fractions, list_input_videos, plan_jobs, split_identities

ROOT = Path(__file__).resolve().parents[2]
DATA_CONFIGS = sorted(path.stem for path in (ROOT / "conf" / "data").glob("*.yaml"))
SPLITS = ("train", "val", "test")
FOMM_SETTINGS = ["data.batch_size=2", "data.num_workers=0", "data.probe_workers=1"]


def split_rows(video, split, people, families) -> dict:
    return {"video": video, "split": split, "people": frozenset(people), "families": families}


# ---------------------------------------------------------------- FOMM datasets


def fomm_case(make_cfg, tmp_path, name, overrides=()):
    """Build the FOMM DataModule of ``data=<name>`` and list what each of its datasets serves."""
    cfg = make_cfg([f"data={name}", "model=fomm", *FOMM_SETTINGS, *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    served = {
        "train": datamodule.train_set.videos.items,
        "val": datamodule.val_set.videos.items,
        "test": datamodule.test_set.videos.items,
    }
    rows = [
        split_rows(item.name, split, {item.identity}, {item.name})
        for split, items in served.items()
        for item in items
    ]
    return pd.DataFrame(rows), datamodule


def official_fomm_layout(root: Path, id_sampling: bool) -> dict[str, frozenset]:
    """train/ and test/ only (as the official datasets come): val must be carved from train."""
    if id_sampling:  # 12 people with 2 clips each in train/, 3 other people in test/
        train = [f"id{k:02d}#clip{c}" for k in range(12) for c in range(2)]
        test = [f"id{k:02d}#clip{c}" for k in range(12, 15) for c in range(2)]
    else:
        train = [f"{k:05d}" for k in range(12)]
        test = [f"{k:05d}" for k in range(12, 15)]
    for split, names in (("train", train), ("test", test)):
        for video in names:
            touch(root / split / f"{video}.mp4")
    return {video: frozenset({identity_of(video)}) for video in train + test}


@pytest.fixture
def fomm_dataset(make_cfg, tmp_path):
    def build(name):
        cfg = make_cfg([f"data={name}", "model=fomm"])
        inputs = official_fomm_layout(Path(cfg.data.root_dir), cfg.data.id_sampling)
        rows, _ = fomm_case(make_cfg, tmp_path, name)
        return rows, inputs

    return build


def embedded_case(make_cfg, tmp_path):
    small = [
        "data.train_identities=4",
        "data.test_identities=2",
        "data.val_identities=2",
        "data.train_videos_per_identity=2",
        "data.test_videos_per_identity=1",
        "data.val_videos_per_identity=1",
        "data.num_frames=4",
        "data.frame_shape=[32,32,3]",
    ]
    rows, datamodule = fomm_case(make_cfg, tmp_path, "embedded", small)
    written = [p.stem for p in Path(datamodule.root_dir).rglob("*.mp4")]
    return rows, {video: frozenset({identity_of(video)}) for video in written}


# ---------------------------------------------------------------- face datasets


def face_case(make_cfg, name, overrides=(), index=None):
    """Build the face DataModule of ``data=<name>`` (faces.csv: one crop row per video)."""
    cfg = make_cfg([f"data={name}", "model=effnet_b4", "model.net.pretrained=false", *overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    if index is not None:
        datamodule.index = index
    table = datamodule.video_index()
    faces = pd.DataFrame(
        {"video": table["video"], "frame": 0, "path": table["video"] + ".png", "face_rank": 0}
    )
    datamodule.faces_dir.mkdir(parents=True, exist_ok=True)
    faces.to_csv(datamodule.faces_csv, index=False)
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule, table


def face_rows(datamodule, table: pd.DataFrame, people_of=None) -> pd.DataFrame:
    """What each split of the face DataModule serves, with the people and originals shown."""
    by_video = table.set_index("video")
    people_of = people_of or index_people
    return pd.DataFrame(
        [
            split_rows(video, split, people_of(video, by_video), index_families(video, by_video))
            for split in SPLITS
            for video in datamodule.splits[split]["video"].unique()
        ]
    )


def index_people(video, by_video) -> set[str]:
    row = by_video.loc[video]
    return {row[c] for c in ("identity", "source_identity", "driving_identity") if row.get(c)}


def index_families(video, by_video) -> set[str]:
    """The original a video belongs to, and the real video that drove it (FOMM fakes)."""
    row = by_video.loc[video]
    return {row["original"] or video} | (
        {row["driving_video"]} if row.get("driving_video") else set()
    )


def ffpp_case(make_cfg, tmp_path):
    root = write_ffpp(tmp_path / "data" / "ffpp", compressions=("c23",), methods=PAPER_METHODS)
    inputs = {}
    for original in sorted(o for split in FFPP_PAIRS.values() for pair in split for o in pair):
        inputs[f"original_sequences/youtube/c23/videos/{original}"] = frozenset({original})
    for method in PAPER_METHODS:
        for path in (root / f"manipulated_sequences/{method}/c23/videos").glob("*.mp4"):
            target, source = path.stem.split("_")
            inputs[path.relative_to(root).with_suffix("").as_posix()] = frozenset({target, source})
    datamodule, table = face_case(make_cfg, "ffpp")
    return face_rows(datamodule, table), inputs


def dfdc_case(make_cfg, tmp_path):
    root = tmp_path / "data" / "dfdc"
    for number in (0, 1, 35, 36, 40, 41):
        write_dfdc_part(root, number)
    inputs = {}
    for folder in root.iterdir():
        for path in folder.glob("*.mp4"):
            number, rest = path.stem[1:3], path.stem[3:]
            original = f"{folder.name}/r{number}{rest[:2]}"
            inputs[f"{folder.name}/{path.stem}"] = frozenset({original})
    datamodule, table = face_case(make_cfg, "dfdc")
    # metadata.json names no actor: the original (a real video and its fakes) is the person
    return face_rows(datamodule, table, index_families), inputs


def celebdf_case(make_cfg, tmp_path):
    root = write_celebdf(tmp_path / "data" / "celebdf", donor_offsets=(1, 2, 3, 4))
    inputs = {}
    for path in root.glob("*/*.mp4"):
        video = path.relative_to(root).with_suffix("").as_posix()
        if path.parent.name == "YouTube-real":
            inputs[video] = frozenset({f"youtube/{path.stem}"})
        else:
            inputs[video] = frozenset(path.stem.split("_")[:-1])
    datamodule, table = face_case(make_cfg, "celebdf")
    return face_rows(datamodule, table), inputs


def folder_case(make_cfg, tmp_path):
    root = tmp_path / "data" / "videos"
    rows, inputs = [], {}
    for person in range(10):
        for clip in range(2):
            real = f"p{person}_{clip}"
            touch(root / f"{real}.mp4")
            rows.append({"path": f"{real}.mp4", "label": "real", "identity": f"p{person}"})
            inputs[real] = frozenset({f"p{person}"})
            donor = f"p{(person + 1 + clip) % 10}"
            touch(root / f"{real}_fake.mp4")
            rows.append(
                {"path": f"{real}_fake.mp4", "label": "fake", "original": f"{real}.mp4",
                 "source_identity": donor}
            )  # fmt: skip
            inputs[f"{real}_fake"] = frozenset({f"p{person}", donor})
    pd.DataFrame(rows).fillna("").to_csv(root / "labels.csv", index=False)
    datamodule, table = face_case(make_cfg, "folder")
    return face_rows(datamodule, table), inputs


def fomm_fakes_case(make_cfg, tmp_path):
    """The fakes dataset's plan (what the generator renders) on a FOMM dataset layout."""
    videos = tmp_path / "data" / "embedded"
    real = set()
    for split, people in (("train", range(8)), ("val", range(8, 10)), ("test", range(10, 13))):
        for person in people:
            for clip in range(2):
                real.add(f"id{person:04d}#{clip:02d}")
                touch(videos / split / f"id{person:04d}#{clip:02d}.mp4")
    cfg = make_cfg(["data=fomm_fakes", "model=effnet_b4", "model.net.pretrained=false"])
    settings = cfg.data.index
    found = list_input_videos(settings.videos)
    fractions = check_fractions(dict(settings.split_fractions))
    assignment = split_identities([item.identity for item in found], fractions, settings.seed)
    jobs, _ = plan_jobs(found, assignment, settings.fakes_per_video, settings.seed)
    labels = pd.DataFrame([job.row() for job in jobs])
    planned = labels.set_index("video")
    inputs = {video: frozenset(index_people(video, planned)) for video in planned.index}
    # every real input becomes a real video of some split (the source of its fakes)
    assert {
        video.rsplit("/", 1)[-1] for video in planned.index if video.startswith("real/")
    } == real
    index = functools.partial(lambda rows: rows.copy(), labels)
    datamodule, table = face_case(make_cfg, "fomm_fakes", index=index)
    return face_rows(datamodule, table), inputs


CASES = {
    "bair": "fomm",
    "fashion": "fomm",
    "mgif": "fomm",
    "nemo": "fomm",
    "taichi": "fomm",
    "ted": "fomm",
    "vox": "fomm",
    "embedded": embedded_case,
    "ffpp": ffpp_case,
    "dfdc": dfdc_case,
    "celebdf": celebdf_case,
    "folder": folder_case,
    "fomm_fakes": fomm_fakes_case,
}


def assert_no_leak(rows: pd.DataFrame, inputs: dict[str, frozenset]) -> None:
    assert rows["video"].is_unique, "a video is served by two splits"
    parts = {split: rows[rows["split"] == split] for split in SPLITS}
    for split, part in parts.items():
        assert len(part), f"the {split} split is empty"

    def union(part, column):
        return set().union(*part[column])

    for first, second in combinations(SPLITS, 2):
        a, b = parts[first], parts[second]
        assert not set(a["video"]) & set(b["video"]), f"{first} and {second} share videos"
        shared = union(a, "people") & union(b, "people")
        assert not shared, f"{first} and {second} share people {sorted(shared)[:5]}"
        shared = union(a, "families") & union(b, "families")
        assert not shared, f"{first} and {second} share originals {sorted(shared)[:5]}"
    assert set(rows["video"]) <= set(inputs), "a split serves a video that was not an input"
    split_of = {person: split for split, part in parts.items() for person in union(part, "people")}
    for video in sorted(set(inputs) - set(rows["video"])):
        people = inputs[video]
        assert people <= set(split_of), f"{video} was dropped, and nothing explains it"
        assert len({split_of[person] for person in people}) > 1, (
            f"{video} was dropped although its people {sorted(people)} share a split"
        )


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_the_splits_of_every_data_config_are_disjoint(name, make_cfg, tmp_path, fomm_dataset):
    if name not in CASES:
        pytest.fail(
            f"conf/data/{name}.yaml has no case in {Path(__file__).name}: add one that builds "
            "its splits on a tiny dataset in its layout, so its splits are checked for leaks"
        )
    case = CASES[name]
    rows, inputs = fomm_dataset(name) if case == "fomm" else case(make_cfg, tmp_path)
    assert_no_leak(rows, inputs)
