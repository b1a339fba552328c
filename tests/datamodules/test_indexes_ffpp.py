import json

import pandas as pd
import pytest
from index_layouts import FFPP_PAIRS, touch, write_ffpp

from datamodules.indexes.common import (
    DatasetLayoutError,
    identities_crossing_splits,
    originals_crossing_splits,
)
from datamodules.indexes.ffpp import PAPER_METHODS, ffpp_index

PAIRS = FFPP_PAIRS


@pytest.fixture
def ffpp_root(tmp_path):
    root = write_ffpp(tmp_path / "ffpp")
    touch(root / "manipulated_sequences/Deepfakes/c23/masks/videos/000_001.mp4")  # ignored
    return root


def test_official_split_labels_and_counts(ffpp_root):
    index = ffpp_index(ffpp_root)
    assert len(index) == 10 + 4 * 10
    assert (index.groupby("split")["label"].value_counts().unstack().loc[["train", "val", "test"]]
            .values.tolist()) == [[6, 24], [2, 8], [2, 8]]  # fmt: skip
    original = index.set_index("video").loc["manipulated_sequences/Deepfakes/c23/videos/006_007"]
    assert original["label"] == 1 and original["split"] == "val"
    assert original["original"] == "original_sequences/youtube/c23/videos/006"
    assert original["source_identity"] == "007" and original["method"] == "Deepfakes"
    real = index.set_index("video").loc["original_sequences/youtube/c23/videos/009"]
    assert real["label"] == 0 and real["original"] == "" and real["split"] == "test"
    assert originals_crossing_splits(index) == [] and identities_crossing_splits(index) == []
    assert all(p.startswith(str(ffpp_root)) for p in index["path"])
    assert set(index["dataset"]) == {"ffpp_c23"}


def test_compression_and_methods(ffpp_root):
    index = ffpp_index(ffpp_root, compression="c40", methods=["FaceSwap", "FaceShifter"])
    assert set(index["method"]) == {"youtube", "FaceSwap", "FaceShifter"}
    assert index["video"].str.contains("/c40/").all()
    everything = ffpp_index(ffpp_root, methods="all")
    assert set(everything["method"]) == {"youtube", *PAPER_METHODS, "FaceShifter"}
    with pytest.raises(DatasetLayoutError, match="DeepFakeDetection"):
        ffpp_index(ffpp_root, methods=["DeepFakeDetection"])
    with pytest.raises(ValueError, match="Unknown FF.. methods"):
        ffpp_index(ffpp_root, methods=["DeepFaceLab"])


def test_missing_official_splits_are_an_error_unless_seeded_is_asked(ffpp_root):
    for file in (ffpp_root / "splits").iterdir():
        file.unlink()
    with pytest.raises(DatasetLayoutError, match="split=seeded"):
        ffpp_index(ffpp_root)
    index = ffpp_index(ffpp_root, split="seeded", seed=3)
    assert originals_crossing_splits(index) == []
    # a pair's two originals stay together: 000 and 001 swap faces with each other
    splits = index.set_index("video")["split"]
    for a, b in sum(PAIRS.values(), []):
        assert (
            splits[f"original_sequences/youtube/c23/videos/{a}"]
            == splits[f"original_sequences/youtube/c23/videos/{b}"]
        )
    pd.testing.assert_frame_equal(index, ffpp_index(ffpp_root, split="seeded", seed=3))


def test_deepfakedetection_is_split_by_actor(ffpp_root, caplog):
    actors = [f"{number:02d}" for number in range(1, 9)]
    for actor in actors:
        touch(ffpp_root / f"original_sequences/actors/c23/videos/{actor}__walk.mp4")
    fakes = [(a, b) for a in actors for b in actors if a != b]  # every actor linked to all
    for target, source in fakes:
        touch(
            ffpp_root
            / f"manipulated_sequences/DeepFakeDetection/c23/videos/{target}_{source}__walk__ABC.mp4"
        )
    index = ffpp_index(ffpp_root, methods=["Deepfakes", "DeepFakeDetection"])
    dfd = index[index["method"].isin(["actors", "DeepFakeDetection"])].set_index("video")
    fake = dfd.loc["manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walk__ABC"]
    assert fake["original"] == "original_sequences/actors/c23/videos/01__walk"
    assert fake["identity"] == "actors/01" and fake["source_identity"] == "actors/02"
    assert originals_crossing_splits(index) == [] and identities_crossing_splits(index) == []
    # the actors are spread over the three splits, not chained into one by the fakes
    assert set(dfd["split"]) == {"train", "val", "test"}
    split_of = dfd[dfd["method"] == "actors"].set_index("identity")["split"]
    kept = {(v.split("/")[-1][:2], v.split("/")[-1][3:5]) for v in dfd.index if "__ABC" in v}
    assert kept == {(a, b) for a, b in fakes if split_of[f"actors/{a}"] == split_of[f"actors/{b}"]}
    assert f"{len(fakes) - len(kept)} videos left out" in caplog.text


def test_a_fake_across_the_official_splits_is_left_out(ffpp_root, caplog):
    folder = ffpp_root / "manipulated_sequences/Deepfakes/c23/videos"
    touch(folder / "000_008.mp4")  # 000 is in train, 008 in test
    index = ffpp_index(ffpp_root)
    assert "manipulated_sequences/Deepfakes/c23/videos/000_008" not in set(index["video"])
    assert "1 videos left out" in caplog.text and "000_008" in caplog.text
    assert identities_crossing_splits(index) == []


def test_wrong_layouts_get_clear_errors(tmp_path, ffpp_root):
    with pytest.raises(DatasetLayoutError, match="FaceForensics.. root"):
        ffpp_index(tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    touch(tmp_path / "flat" / "000.mp4")
    with pytest.raises(DatasetLayoutError, match="original_sequences/youtube"):
        ffpp_index(tmp_path / "flat")
    with pytest.raises(ValueError, match="compression"):
        ffpp_index(ffpp_root, compression="c30")
    (ffpp_root / "splits" / "val.json").write_text(json.dumps([["006", "007", "008"]]))
    with pytest.raises(ValueError, match="pairs"):
        ffpp_index(ffpp_root)
