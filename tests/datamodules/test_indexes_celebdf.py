import pytest

from datamodules.indexes.celebdf import celebdf_index
from datamodules.indexes.common import DatasetLayoutError, originals_crossing_splits

TEST_LIST = [
    "1 Celeb-real/id0_0000.mp4",
    "1 YouTube-real/00001.mp4",
    "0 Celeb-synthesis/id0_id1_0000.mp4",
]


@pytest.fixture
def celebdf_root(tmp_path):
    root = tmp_path / "celebdf"
    names = {
        "Celeb-real": [],
        "YouTube-real": [f"{n:05d}" for n in range(6)],
        "Celeb-synthesis": [],
    }
    for identity in range(8):
        for clip in range(2):
            names["Celeb-real"].append(f"id{identity}_{clip:04d}")
            names["Celeb-synthesis"].append(f"id{identity}_id{(identity + 1) % 8}_{clip:04d}")
    for folder, stems in names.items():
        (root / folder).mkdir(parents=True)
        for stem in stems:
            (root / folder / f"{stem}.mp4").write_bytes(b"")
    (root / "List_of_testing_videos.txt").write_text("\n".join(TEST_LIST) + "\n")
    return root


def test_test_list_labels_are_converted_and_identities_kept_apart(celebdf_root):
    index = celebdf_index(celebdf_root, val_fraction=0.25, seed=1)
    assert len(index) == 16 + 6 + 16
    by_video = index.set_index("video")
    test = index[index["split"] == "test"]
    assert sorted(test["video"]) == [
        "Celeb-real/id0_0000",
        "Celeb-synthesis/id0_id1_0000",
        "YouTube-real/00001",
    ]
    assert by_video.loc["Celeb-real/id0_0000", "label"] == 0
    assert by_video.loc["Celeb-synthesis/id0_id1_0000", "label"] == 1
    fake = by_video.loc["Celeb-synthesis/id3_id4_0001"]
    assert fake["original"] == "Celeb-real/id3_0001" and fake["source_identity"] == "id4"
    rest = index[index["split"] != "test"]
    assert set(rest["split"]) == {"train", "val"}
    assert originals_crossing_splits(rest) == []
    identity = rest["video"].str.extract(r"Celeb-(?:real|synthesis)/(id\d+)_")[0].dropna()
    assert (rest.loc[identity.index].groupby(identity)["split"].nunique() == 1).all()


def test_a_list_disagreeing_with_the_folders_is_refused(celebdf_root):
    (celebdf_root / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")
    with pytest.raises(ValueError, match="against their folder"):
        celebdf_index(celebdf_root)
    (celebdf_root / "List_of_testing_videos.txt").write_text("real Celeb-real/id0_0000.mp4\n")
    with pytest.raises(ValueError, match="expected"):
        celebdf_index(celebdf_root)


def test_missing_parts_of_the_layout(tmp_path, celebdf_root):
    with pytest.raises(DatasetLayoutError, match="Celeb-DF root"):
        celebdf_index(tmp_path / "missing")
    (celebdf_root / "List_of_testing_videos.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="List_of_testing_videos.txt"):
        celebdf_index(celebdf_root)
