import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datamodules.indexes.common import (
    DatasetLayoutError,
    identities_crossing_splits,
    originals_crossing_splits,
)
from datamodules.indexes.folder import folder_index

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "mine"
    for name in [
        "a.mp4",
        "a_fake.mp4",
        "b.mp4",
        "b_fake.mp4",
        "sub/c.mov",
        "sub/c_fake.mp4",
        "d.mp4",
    ]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def write_labels(root, rows, name="labels.csv"):
    pd.DataFrame(rows).to_csv(root / name, index=False)


def test_labels_in_any_spelling_and_a_seeded_split_by_original(folder):
    write_labels(
        folder,
        {
            "file": [
                "a.mp4",
                "a_fake.mp4",
                "b.mp4",
                "b_fake.mp4",
                "sub/c.mov",
                "sub/c_fake.mp4",
                "d.mp4",
            ],
            "label": ["REAL", "FAKE", "0", "1", "real", "fake", "0"],
            "original": ["", "a.mp4", "", "b", "", "sub/c.mov", ""],
            "method": ["", "x", "", "y", "", "z", ""],
        },
    )
    index = folder_index(folder, val_fraction=0.25, test_fraction=0.25, seed=0)
    assert index["label"].tolist() == [0, 1, 0, 1, 0, 0, 1]  # sorted by video id
    by_video = index.set_index("video")
    assert by_video.loc["a_fake", "original"] == "a" and by_video.loc["b_fake", "original"] == "b"
    assert by_video.loc["sub/c_fake", "original"] == "sub/c"
    assert by_video.loc["sub/c", "path"] == str(folder / "sub/c.mov")
    assert by_video.loc["a_fake", "method"] == "x"
    assert originals_crossing_splits(index) == []
    assert set(index["split"]) <= {"train", "val", "test"}
    pd.testing.assert_frame_equal(
        index, folder_index(folder, val_fraction=0.25, test_fraction=0.25, seed=0)
    )


def test_given_splits_and_video_ids_without_paths(folder):
    write_labels(
        folder,
        {"video": ["a", "a_fake", "d"], "label": [0, 1, 0], "split": ["train", "train", "test"]},
        name="ids.csv",
    )
    index = folder_index(folder, labels_csv=folder / "ids.csv")
    assert index.set_index("video")["split"].to_dict() == {
        "a": "train",
        "a_fake": "train",
        "d": "test",
    }


def test_people_stay_in_one_split_and_given_splits_that_leak_are_refused(folder, caplog):
    (folder / "e.mp4").write_bytes(b"")
    people = {"a.mp4": "ann", "b.mp4": "ann", "sub/c.mov": "cid", "d.mp4": "dee", "e.mp4": "eve"}
    fakes = {"a_fake.mp4": ("a.mp4", "cid"), "b_fake.mp4": ("b.mp4", ""),
             "sub/c_fake.mp4": ("sub/c.mov", "ann")}  # fmt: skip
    write_labels(
        folder,
        {
            "path": [*people, *fakes],
            "label": [0] * len(people) + [1] * len(fakes),
            "identity": [*people.values(), "", "", ""],  # a fake takes its original's person
            "source_identity": [""] * len(people) + [donor for _, donor in fakes.values()],
            "original": [""] * len(people) + [original for original, _ in fakes.values()],
        },
    )
    outcomes = set()
    for seed in range(8):
        index = folder_index(folder, val_fraction=0.3, test_fraction=0.3, seed=seed)
        assert identities_crossing_splits(index) == [] and originals_crossing_splits(index) == []
        split = index.set_index("video")["split"]
        assert split["a"] == split["b"] == split["b_fake"]  # ann's videos together
        assert index.set_index("video").loc["b_fake", "identity"] == "ann"
        crossing = split["a"] != split["sub/c"]  # ann and cid apart: their fakes go
        assert ("a_fake" in split) != crossing and ("sub/c_fake" in split) != crossing
        outcomes.add(crossing)
    assert outcomes == {True, False} and "videos left out" in caplog.text
    write_labels(
        folder,
        {"path": ["a.mp4", "a_fake.mp4"], "label": [0, 1], "original": ["", "a.mp4"],
         "split": ["train", "test"]},
    )  # fmt: skip
    with pytest.raises(ValueError, match="1 originals have videos in several splits.*Fix the"):
        folder_index(folder)


def test_bad_label_files(folder, tmp_path):
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        folder_index(tmp_path / "nowhere")
    with pytest.raises(DatasetLayoutError, match="labels.csv"):
        folder_index(folder)
    write_labels(folder, {"path": ["a.mp4", "missing.mp4"], "label": [0, 1]})
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        folder_index(folder)
    write_labels(folder, {"path": ["a.mp4"], "label": ["maybe"]})
    with pytest.raises(ValueError, match="maybe"):
        folder_index(folder)
    write_labels(folder, {"path": ["a.mp4", "d.mp4"], "label": [0, 0], "split": ["train", ""]})
    with pytest.raises(ValueError, match="all or none"):
        folder_index(folder)
    write_labels(folder, {"path": ["a.mp4"], "label": [0], "split": ["holdout"]})
    with pytest.raises(ValueError, match="holdout"):
        folder_index(folder)


def test_command_line_writes_the_csv(folder, tmp_path):
    write_labels(
        folder, {"path": ["a.mp4", "a_fake.mp4"], "label": [0, 1], "original": ["", "a.mp4"]}
    )
    output = tmp_path / "index.csv"
    command = ["-m", "datamodules.indexes.folder", f"root={folder}", f"output={output}", "seed=2"]
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(output, keep_default_na=False)
    assert written.columns[:5].tolist() == ["video", "path", "label", "original", "split"]
    assert len(written) == 2 and written["split"].nunique() == 1


def test_an_index_without_an_original_column_has_no_crossing_originals():
    """A user's CSV may leave out ``original``: each video is then its own family."""
    index = pd.DataFrame(
        {"video": ["a", "b", "a"], "label": [0, 1, 0], "split": ["train", "test", "val"]}
    )
    assert originals_crossing_splits(index) == ["a"]
    assert originals_crossing_splits(index.iloc[:2]) == []
