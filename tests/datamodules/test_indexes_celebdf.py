import pytest
from index_layouts import write_celebdf

from datamodules.indexes.celebdf import celebdf_index
from datamodules.indexes.common import (
    DatasetLayoutError,
    identities_crossing_splits,
    originals_crossing_splits,
)


@pytest.fixture
def celebdf_root(tmp_path):
    return write_celebdf(tmp_path / "celebdf")


def test_people_are_split_whole_and_fakes_across_splits_left_out(celebdf_root, caplog):
    index = celebdf_index(celebdf_root, val_fraction=0.25, test_fraction=0.25, seed=1)
    by_video = index.set_index("video")
    assert by_video.loc["Celeb-real/id0_0000", "label"] == 0  # the list's 1 = real
    assert by_video.loc["YouTube-real/00003", "identity"] == "youtube/00003"
    assert set(index["split"]) == {"train", "val", "test"}
    assert originals_crossing_splits(index) == [] and identities_crossing_splits(index) == []
    reals = index[index["label"] == 0].groupby("identity")["split"].first()
    assert len(index[index["label"] == 0]) == 16 + 6  # every real video is kept
    # a fake id<k>_id<k+1> is kept exactly when both people share a split
    expected = {
        f"Celeb-synthesis/id{k}_id{(k + 1) % 8}_{clip:04d}"
        for k in range(8)
        for clip in range(2)
        if reals[f"id{k}"] == reals[f"id{(k + 1) % 8}"]
    }
    assert set(index.loc[index["label"] == 1, "video"]) == expected
    assert f"{16 - len(expected)} videos left out" in caplog.text
    fake = by_video.loc[sorted(expected)[0]]
    assert fake["original"].startswith("Celeb-real/") and fake["source_identity"].startswith("id")


def test_the_official_test_list_on_request(celebdf_root, caplog):
    index = celebdf_index(celebdf_root, split="official", val_fraction=0.25, seed=1)
    test = index[index["split"] == "test"]
    assert sorted(test["video"]) == [
        "Celeb-real/id0_0000",
        "Celeb-synthesis/id0_id1_0000",
        "YouTube-real/00001",
    ]
    assert index.set_index("video").loc["Celeb-synthesis/id0_id1_0000", "label"] == 1
    rest = index[index["split"] != "test"]
    assert set(rest["split"]) == {"train", "val"}
    assert originals_crossing_splits(rest) == [] and identities_crossing_splits(rest) == []
    # the protocol's own leak (id0 is in the list and outside it) is reported, not hidden
    assert "identities have videos in several splits" in caplog.text
    with pytest.raises(ValueError, match="split must be one of identities, official"):
        celebdf_index(celebdf_root, split="paper")


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
