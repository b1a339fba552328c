import pytest
from index_layouts import write_dfdc_part as write_part

from datamodules.indexes.common import DatasetLayoutError, originals_crossing_splits
from datamodules.indexes.dfdc import dfdc_index, parse_parts


@pytest.fixture
def dfdc_root(tmp_path):
    root = tmp_path / "dfdc"
    for number in (0, 1, 34, 35, 39, 40, 49):
        write_part(root, number)
    return root


def test_the_papers_part_split(dfdc_root):
    index = dfdc_index(dfdc_root)
    assert len(index) == 7 * 6
    parts = index.groupby("split")["part"].unique().map(sorted).to_dict()
    assert parts == {"train": [0, 1, 34], "val": [35, 39], "test": [40, 49]}
    row = index.set_index("video").loc["dfdc_train_part_35/f35x1x0"]
    assert row["label"] == 1 and row["split"] == "val"
    assert row["original"] == "dfdc_train_part_35/r35x1"
    assert (index[index["label"] == 0]["original"] == "").all()
    assert originals_crossing_splits(index) == []
    assert index["label"].sum() == 7 * 4


def test_custom_parts_and_missing_videos(dfdc_root, caplog):
    write_part(dfdc_root, 7, missing=("f07x0x1.mp4",))
    index = dfdc_index(dfdc_root, train_parts=[7], val_parts=[0], test_parts=[1])
    assert set(index["part"]) == {0, 1, 7}
    assert "dfdc_train_part_7/f07x0x1" not in set(index["video"])
    assert "not on disk" in caplog.text
    with pytest.raises(ValueError, match="both train and val"):
        dfdc_index(dfdc_root, train_parts=[0], val_parts=[0])


def test_wrong_layouts(tmp_path, dfdc_root):
    with pytest.raises(DatasetLayoutError, match="DFDC root"):
        dfdc_index(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    with pytest.raises(DatasetLayoutError, match="dfdc_train_part_<N>"):
        dfdc_index(tmp_path / "flat")
    (dfdc_root / "dfdc_train_part_0" / "metadata.json").unlink()
    with pytest.raises(DatasetLayoutError, match="metadata.json"):
        dfdc_index(dfdc_root)


def test_part_ranges():
    assert parse_parts("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_parts([5, 6]) == [5, 6] and parse_parts(9) == [9]
    with pytest.raises(ValueError, match="ranges like 0-34"):
        parse_parts("a-b")
