"""Where FOMM validation comes from: a val/ folder, or held out of training; never test."""

import logging
from types import SimpleNamespace

import pytest

from datamodules.fomm_layout import discover_splits
from datamodules.pairs import FOMMDataModule

SIZE = 16


def touch_videos(folder, names):
    """Empty ``.mp4`` files: enough to list a layout (probing marks them unusable)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.mp4").write_bytes(b"")


def people(count, clips, prefix="p"):
    return [f"{prefix}{person}#c{clip}" for person in range(count) for clip in range(clips)]


def names(items):
    return {item.name for item in items}


def identities(items):
    return {item.identity for item in items}


@pytest.fixture
def official(tmp_path):
    """train/ and test/ only, as the official datasets come: 10 + 3 people, 3 clips each."""
    root = tmp_path / "official"
    touch_videos(root / "train", people(10, 3))
    touch_videos(root / "test", people(3, 3, prefix="t"))
    return root


def test_identities_are_held_out_of_train_never_taken_from_test(official):
    splits = discover_splits(official, id_sampling=True, seed=0, val_identities=2)
    assert len(identities(splits.val)) == 2 and len(splits.val) == 6  # every clip of them
    assert not identities(splits.val) & identities(splits.train)
    assert not identities(splits.val) & identities(splits.test)
    assert names(splits.test) == set(people(3, 3, prefix="t"))
    # training loses exactly the held-out videos, nothing else
    assert names(splits.train) | names(splits.val) == set(people(10, 3))
    assert not names(splits.train) & names(splits.val)
    assert "held out of train/" in splits.val_rule and splits.val_problem is None


def test_the_hold_out_is_seeded(official):
    first = discover_splits(official, id_sampling=True, seed=0, val_identities=2)
    assert discover_splits(official, id_sampling=True, seed=0, val_identities=2) == first
    others = [discover_splits(official, id_sampling=True, seed=s, val_identities=2) for s in (1, 2)]
    assert any(identities(other.val) != identities(first.val) for other in others)


def test_without_id_sampling_videos_are_held_out(official):
    splits = discover_splits(official, id_sampling=False, seed=0, val_videos=4)
    assert len(splits.val) == 4 and len(splits.train) == 26
    assert names(splits.train) | names(splits.val) == set(people(10, 3))
    assert not names(splits.val) & names(splits.test)


@pytest.mark.parametrize("folder", ["val", "validation"])
def test_a_val_folder_is_the_validation_set(official, folder):
    touch_videos(official / folder, people(2, 2, prefix="v"))
    splits = discover_splits(official, id_sampling=True, val_identities=5)
    assert names(splits.val) == set(people(2, 2, prefix="v"))
    assert names(splits.train) == set(people(10, 3))  # nothing held out of train/
    assert splits.val_rule == f"the {folder}/ folder"


def test_a_val_folder_sharing_test_videos_is_refused(official, caplog):
    touch_videos(official / "val", ["t0#c1"])
    with pytest.raises(ValueError, match="share 1 videos .*t0#c1.*never see test videos"):
        discover_splits(official, id_sampling=True)
    (official / "val" / "t0#c1.mp4").unlink()
    touch_videos(official / "val", ["t0#other"])  # the same person, another clip: a warning
    with caplog.at_level(logging.WARNING):
        discover_splits(official, id_sampling=True)
    assert "shares 1 identities with test/ (e.g. t0)" in caplog.text
    touch_videos(official / "validation", ["v#0"])
    with pytest.raises(ValueError, match="both val/ and validation/"):
        discover_splits(official)


def test_a_flat_folder_is_split_three_ways_by_identity(tmp_path):
    touch_videos(tmp_path / "flat", people(10, 2))
    splits = discover_splits(
        tmp_path / "flat", id_sampling=True, test_fraction=0.2, seed=3, val_identities=2
    )
    parts = [identities(part) for part in (splits.train, splits.val, splits.test)]
    assert [len(part) for part in parts] == [6, 2, 2]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert names(splits.train) | names(splits.val) | names(splits.test) == set(people(10, 2))


def module(root, **options):
    defaults = {"frame_shape": [SIZE, SIZE, 3], "batch_size": 1, "num_workers": 0}
    return FOMMDataModule(str(root), id_sampling=True, **(defaults | options))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"val_identities": 0}, "val_identities=0 holds no training identities out"),
        (
            {"val_identities": 10},
            "val_identities=10 would hold out all 10 training identities .* at most 9",
        ),
    ],
)
def test_an_empty_validation_set_stops_a_fit_with_the_fix(official, options, message):
    datamodule = module(official, **options)
    with pytest.raises(ValueError, match=f"validation set is empty: {message}"):
        datamodule.setup("fit")
    datamodule.setup("test")  # testing needs no validation set
    assert names(datamodule.test_set.videos.items) == set(people(3, 3, prefix="t"))
    datamodule.trainer = SimpleNamespace(limit_val_batches=0, world_size=1, loggers=[])
    datamodule.setup("fit")
    assert len(datamodule.val_set) == 0


def test_an_empty_val_folder_is_explained(official):
    (official / "val").mkdir()
    with pytest.raises(ValueError, match="No videos in .*val: it is empty"):
        module(official).setup("validate")


def test_validation_can_be_capped_to_a_few_videos(official):
    datamodule = module(official, val_identities=3, val_max_videos=2)
    datamodule.setup("fit")
    assert len(datamodule.splits.val) == 9 and len(datamodule.val_set) == 2
    assert names(datamodule.val_set.videos.items) <= names(datamodule.splits.val)
    with pytest.raises(ValueError, match="val_max_videos=0 must be at least 1"):
        module(official, val_max_videos=0)
