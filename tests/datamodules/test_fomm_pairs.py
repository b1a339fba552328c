import numpy as np
import pytest
import torch
from video_data_media import (
    index_frames,
    pattern_frames,
    write_frame_folder,
    write_gif,
    write_mp4,
    write_strip,
)

from datamodules.fomm_augment import FOMMAugmentation
from datamodules.fomm_layout import discover_splits, list_video_items
from datamodules.pairs import FOMMDataModule, FOMMPairDataset
from datamodules.video_io import probe_video

SIZE = 16
FLIPS = {"flip_param": {"horizontal_flip": True, "time_flip": True}}
JITTER = {"jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}}


def frame_index(image: torch.Tensor) -> int:
    """The index drawn into an index_frames frame (uniform grey 10 * i, away from the corner)."""
    value = float(image[:, 8:, 8:].mean()) * 255 / 10
    assert abs(value - round(value)) < 0.05, value
    return round(value)


def corner_is_left(image: torch.Tensor) -> bool:
    return bool(image[:, :4, :4].min() == 1.0)


@pytest.fixture
def mixed_dataset(tmp_path):
    """train/, val/ and test/ with every storage kind and ID#name identities."""
    root = tmp_path / "mixed"
    frames = index_frames(10, SIZE)
    write_frame_folder(root / "train" / "alice#folder", frames)
    write_strip(root / "train" / "alice#strip.png", frames)
    write_gif(root / "train" / "alice#anim.gif", frames)
    write_frame_folder(root / "train" / "bob#only", frames)
    write_mp4(root / "train" / "carol#a.mp4", pattern_frames(12, SIZE, SIZE), gop=4)
    write_mp4(root / "train" / "carol#b.mov", pattern_frames(12, SIZE, SIZE), gop=4)
    (root / "train" / "README.txt").write_text("not a video")
    write_frame_folder(root / "val" / "frank#v", index_frames(7, SIZE))
    write_frame_folder(root / "test" / "dave#x", index_frames(9, SIZE))
    write_strip(root / "test" / "erin#y.png", index_frames(5, SIZE))
    return root


def make_module(root, **overrides):
    options = {"frame_shape": [SIZE, SIZE, 3], "batch_size": 2, "num_workers": 0}
    options.update(overrides)
    return FOMMDataModule(str(root), **options)


def pair_dataset(root, **options):
    items = list_video_items(root)
    metas = [probe_video(item.path, (SIZE, SIZE)) for item in items]
    return FOMMPairDataset(items, metas, (SIZE, SIZE, 3), **options)


def test_every_kind_gives_pairs(mixed_dataset):
    module = make_module(mixed_dataset, id_sampling=False)
    module.setup("fit")
    names = [item.name for item in module.train_set.videos.items]
    assert names == ["alice#anim", "alice#folder", "alice#strip", "bob#only", "carol#a", "carol#b"]
    for index, name in enumerate(names):
        sample = module.train_set[index]
        assert sample["name"] == name and sample["skipped"] == []
        for key in ("source", "driving"):
            assert sample[key].shape == (3, SIZE, SIZE) and sample[key].dtype == torch.float32
            assert sample[key].min() >= 0.0 and sample[key].max() <= 1.0
        if not name.startswith("carol"):  # lossless kinds: the exact frames come back
            assert frame_index(sample["source"]) <= frame_index(sample["driving"])


def test_id_sampling_walks_identities(mixed_dataset):
    module = make_module(mixed_dataset, id_sampling=True, num_repeats=3)
    module.setup("fit")
    dataset = module.train_set
    assert len(dataset) == 3 * 3  # alice, bob, carol, three times
    torch.manual_seed(0)
    seen = {"alice": set(), "bob": set(), "carol": set()}
    for index in range(60):
        name = dataset[index % len(dataset)]["name"]
        identity = ["alice", "bob", "carol"][index % len(dataset) % 3]
        assert name.split("#")[0] == identity
        seen[identity].add(name)
    assert seen["alice"] == {"alice#anim", "alice#folder", "alice#strip"}
    assert seen["carol"] == {"carol#a", "carol#b"}


def test_source_and_driving_come_from_the_video_named_in_the_sample(tmp_path):
    """With id_sampling each identity has several videos; both frames are of the named one."""
    markers = {}
    for number, name in enumerate(["alice#a", "alice#b", "alice#c", "bob#a", "bob#b"]):
        frames = index_frames(6, SIZE)
        frames[..., 0] = 40 * number + 20  # red: which video; green and blue: which frame
        write_frame_folder(tmp_path / "d" / name, frames)
        markers[name] = 40 * number + 20
    dataset = pair_dataset(tmp_path / "d", id_sampling=True, num_repeats=20)
    assert len(dataset.groups) == 2
    torch.manual_seed(0)
    names = set()
    for sample in dataset:
        for key in ("source", "driving"):
            red = round(float(sample[key][0, 8:, 8:].mean()) * 255)
            assert red == markers[sample["name"]], (key, sample["name"])
        names.add(sample["name"])
    assert names == set(markers)


def test_num_repeats_without_id_sampling_walks_videos(mixed_dataset):
    module = make_module(mixed_dataset, id_sampling=False, num_repeats=4)
    module.setup("fit")
    dataset = module.train_set
    assert len(dataset) == 6 * 4
    names = [item.name for item in dataset.videos.items]
    assert [dataset[i]["name"] for i in range(12)] == names + names


def test_random_split_is_seeded_and_keeps_identities_together(tmp_path):
    root = tmp_path / "flat"
    for person in range(10):
        for clip in range(2):
            write_frame_folder(root / f"p{person}#c{clip}", index_frames(2, 8))
    splits = discover_splits(root, id_sampling=True, test_fraction=0.2, seed=0, val_identities=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (14, 2, 4)
    people = [{i.identity for i in part} for part in (splits.train, splits.val, splits.test)]
    assert not people[0] & people[1] and not people[0] & people[2] and not people[1] & people[2]
    assert discover_splits(root, id_sampling=True, seed=0, val_identities=1) == splits
    other_seeds = [discover_splits(root, id_sampling=True, seed=s).test for s in range(1, 6)]
    assert any(split != splits.test for split in other_seeds)
    by_video = discover_splits(root, id_sampling=False, test_fraction=0.2, seed=0, val_videos=3)
    assert (len(by_video.train), len(by_video.val), len(by_video.test)) == (13, 3, 4)


def test_source_frame_never_after_driving_and_all_frames_drawn(tmp_path):
    write_frame_folder(tmp_path / "d" / "clip", index_frames(6, SIZE))
    dataset = pair_dataset(tmp_path / "d", num_repeats=300)
    torch.manual_seed(0)
    drawn = [(frame_index(s["source"]), frame_index(s["driving"])) for s in dataset]
    assert all(source <= driving for source, driving in drawn)
    assert {index for pair in drawn for index in pair} == set(range(6))
    assert any(source == driving for source, driving in drawn)  # uniform with replacement


def test_time_flip_and_horizontal_flip_apply_to_both_frames(tmp_path):
    write_frame_folder(tmp_path / "d" / "clip", index_frames(6, SIZE))
    torch.manual_seed(0)
    timed = pair_dataset(
        tmp_path / "d",
        num_repeats=200,
        augmentation=FOMMAugmentation(flip_param={"time_flip": True}),
    )
    drawn = [(frame_index(s["source"]), frame_index(s["driving"])) for s in timed]
    assert any(source > driving for source, driving in drawn)
    mirrored = pair_dataset(
        tmp_path / "d",
        num_repeats=100,
        augmentation=FOMMAugmentation(flip_param={"horizontal_flip": True}),
    )
    corners = [(corner_is_left(s["source"]), corner_is_left(s["driving"])) for s in mirrored]
    assert all(source == driving for source, driving in corners)
    assert {source for source, _ in corners} == {True, False}


def test_colour_jitter_is_identical_on_both_frames(tmp_path):
    still = np.repeat(pattern_frames(1, SIZE, SIZE), 5, axis=0)
    write_frame_folder(tmp_path / "d" / "still", still)
    dataset = pair_dataset(
        tmp_path / "d", num_repeats=20, augmentation=FOMMAugmentation(**FLIPS, **JITTER)
    )
    torch.manual_seed(0)
    original = torch.from_numpy(still[0]).permute(2, 0, 1).float() / 255
    changed = 0
    for sample in dataset:
        torch.testing.assert_close(sample["source"], sample["driving"], rtol=0, atol=0)
        changed += not torch.allclose(sample["source"], original, atol=1e-3)
    assert changed > 0


def test_mgif_resize_and_crop_keep_the_frame_shape(tmp_path):
    write_gif(tmp_path / "d" / "blob.gif", index_frames(4, SIZE))
    augmentation = FOMMAugmentation(
        **FLIPS,
        crop_param={"size": [SIZE, SIZE]},
        resize_param={"ratio": [0.9, 1.1]},
        jitter_param={"hue": 0.5},
    )
    torch.manual_seed(0)
    for sample in pair_dataset(tmp_path / "d", num_repeats=20, augmentation=augmentation):
        assert sample["source"].shape == sample["driving"].shape == (3, SIZE, SIZE)


def test_train_batches_and_whole_test_videos(mixed_dataset):
    module = make_module(mixed_dataset, batch_size=4, num_repeats=3, val_max_frames=4)
    module.prepare_data()
    module.setup("fit")
    batches = list(module.train_dataloader())
    assert len(batches) == 18 // 4  # drop_last
    batch = batches[0]
    assert batch["source"].shape == batch["driving"].shape == (4, 3, SIZE, SIZE)
    assert len(batch["name"]) == 4 and batch["skipped"] == []

    (val,) = list(module.val_dataloader())
    assert val["video"].shape == (1, 4, 3, SIZE, SIZE) and val["name"] == ["frank#v"]
    assert [frame_index(f) for f in val["video"][0]] == [0, 2, 4, 6]  # first to last

    module.setup("test")
    tests = list(module.test_dataloader())
    assert [t["name"][0] for t in tests] == ["dave#x", "erin#y"]
    assert tests[0]["video"].shape == (1, 9, 3, SIZE, SIZE)
    assert [frame_index(f) for f in tests[0]["video"][0]] == list(range(9))
    assert tests[1]["video"].shape == (1, 5, 3, SIZE, SIZE)


def test_resize_frames_accepts_other_sizes(tmp_path):
    write_mp4(tmp_path / "d" / "train" / "big.mp4", pattern_frames(6, 32, 48), gop=3)
    write_mp4(tmp_path / "d" / "test" / "big.mp4", pattern_frames(6, 32, 48), gop=3)
    write_mp4(tmp_path / "d" / "val" / "held.mp4", pattern_frames(4, 32, 48), gop=3)
    module = make_module(tmp_path / "d", batch_size=1, resize_frames=True)
    module.setup("fit")
    sample = module.train_set[0]
    assert sample["source"].shape == (3, SIZE, SIZE) and sample["skipped"] == []
    assert module.val_set[0]["video"].shape == (4, 3, SIZE, SIZE)
    assert module.test_set[0]["video"].shape == (6, 3, SIZE, SIZE)


def test_too_few_samples_for_a_batch_is_an_error(mixed_dataset):
    module = make_module(mixed_dataset, id_sampling=True, num_repeats=1, batch_size=8)
    with pytest.raises(ValueError, match="raise num_repeats or lower batch_size"):
        module.setup("fit")


def test_loader_workers_read_in_their_own_processes(mixed_dataset):
    module = make_module(mixed_dataset, num_workers=2, batch_size=3, num_repeats=2)
    module.setup("fit")
    batches = list(module.train_dataloader())
    assert len(batches) == 4
    assert all(b["source"].shape == (3, 3, SIZE, SIZE) for b in batches)


def test_augmentation_rejects_unknown_or_invalid_parameters():
    with pytest.raises(ValueError, match="unknown keys"):
        FOMMAugmentation(flip_param={"vertical_flip": True})
    with pytest.raises(ValueError, match="must be in"):
        FOMMAugmentation(jitter_param={"hue": 0.7})
    rotated = FOMMAugmentation(rotation_param={"degrees": 30})(
        torch.rand(2, 3, SIZE, SIZE), np.random.default_rng(0)
    )
    assert rotated.shape == (2, 3, SIZE, SIZE)
