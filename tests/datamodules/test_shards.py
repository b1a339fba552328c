import pytest

from datamodules.shards import Shard, all_shards, shard_file, shard_of

VIDEOS = [f"id{k}#{v}" for k in range(30) for v in range(3)] + ["nested/clip", "ü/名前"]


def test_every_video_is_in_exactly_one_shard_and_shards_are_balanced():
    for count in (1, 2, 3, 8):
        owners = [[shard.owns(video) for shard in all_shards(count)] for video in VIDEOS]
        assert all(sum(flags) == 1 for flags in owners)
        sizes = [sum(flags[index] for flags in owners) for index in range(count)]
        assert min(sizes) > 0.5 * len(VIDEOS) / count  # a hash spreads them, no shard empty


def test_the_shard_of_a_video_is_pinned_across_versions_and_machines():
    # A resumed shard must see the videos it saw before: these values must never change.
    assert [shard_of(f"clip{n}", 2) for n in range(6)] == [1, 0, 0, 1, 1, 0]
    assert (shard_of("id0#0", 7), shard_of("nested/portrait", 1000), shard_of("ü", 3)) == (
        1,
        651,
        2,
    )


def test_a_shard_does_not_depend_on_the_other_videos():
    shard = Shard(1, 3)
    alone = shard.select(VIDEOS[:5])
    assert shard.select(VIDEOS)[:5] == alone
    assert shard.select(list(reversed(VIDEOS[:5]))) == list(reversed(alone))


def test_shard_file_names_and_bad_values():
    assert shard_file("faces.csv", 0, 2) == "faces_shard0of2.csv"
    assert shard_file("summary.json", 3, 16) == "summary_shard3of16.json"
    assert Shard(0, 1).file("faces.csv") == "faces.csv" and not Shard().sharded
    assert Shard(1, 2).file("labels.csv") == "labels_shard1of2.csv"
    with pytest.raises(ValueError, match=r"shard=2 is outside 0..1 for num_shards=2"):
        Shard(2, 2)
    with pytest.raises(ValueError, match="num_shards=0 must be a whole number >= 1"):
        Shard(0, 0)
    with pytest.raises(ValueError, match="shard=-1"):
        Shard(-1, 2)
