import json
import os

import numpy as np
import pytest
from video_data_media import (
    decode_all,
    index_frames,
    pattern_frames,
    write_frame_folder,
    write_gif,
    write_mp4,
    write_strip,
)

from datamodules import metadata_cache
from datamodules.frame_sources import VideoMeta
from datamodules.metadata_cache import MetadataCache
from datamodules.pyav_source import PyAVSource
from datamodules.video_io import open_video, probe_video, read_frames, read_video, video_kind

NUM_FRAMES = 40


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("mp4") / "clip.mp4"
    return write_mp4(path, pattern_frames(NUM_FRAMES), gop=8, bframes=2)


def test_mp4_has_several_keyframes_and_b_frames(mp4):
    import av

    with av.open(str(mp4)) as container:
        decode_order = [p.pts for p in container.demux(video=0) if p.pts is not None]
    assert decode_order != sorted(decode_order), "expected B-frames (decode order != display order)"
    meta = probe_video(mp4)
    assert meta.num_frames == NUM_FRAMES
    assert meta.keyframes == [0, 8, 16, 24, 32]
    assert (meta.height, meta.width, meta.fps) == (32, 32, 25.0)


@pytest.mark.parametrize(
    "indices", [[0], [NUM_FRAMES - 1], [7, 8, 9], [1, 15, 16, 17], [39, 0, 20, 20], [23, 22]]
)
def test_seeking_read_equals_full_decode(mp4, indices):
    reference = decode_all(mp4)
    assert len(reference) == NUM_FRAMES
    np.testing.assert_array_equal(read_frames(mp4, indices), reference[indices])


def test_every_frame_by_seeking_and_ranges(mp4):
    reference = decode_all(mp4)
    with open_video(mp4) as source:
        for index in range(NUM_FRAMES):
            np.testing.assert_array_equal(source.read([index])[0], reference[index])
    np.testing.assert_array_equal(read_video(mp4), reference)
    np.testing.assert_array_equal(read_video(mp4, start=30, stop=35), reference[30:35])
    np.testing.assert_array_equal(read_video(mp4, step=7), reference[::7])


def test_two_frames_do_not_decode_the_whole_video(tmp_path):
    path = write_mp4(tmp_path / "long.mp4", pattern_frames(200), gop=25, bframes=2)
    source = PyAVSource(path)
    pair = source.read([60, 170])
    reference = decode_all(path)
    np.testing.assert_array_equal(pair, reference[[60, 170]])
    # One seek per frame, each decoding at most a GOP plus the B-frame delay.
    assert source.seeks == 2
    assert source.frames_decoded <= 2 * (25 + 3) < 200
    source.close()


def test_nearby_frames_are_decoded_forward_without_seeking(mp4):
    source = PyAVSource(mp4)
    source.read(list(range(NUM_FRAMES)))
    assert source.seeks == 1
    assert source.frames_decoded == NUM_FRAMES
    source.close()


def test_mov_container(tmp_path):
    frames = pattern_frames(12)
    path = write_mp4(tmp_path / "clip.mov", frames, gop=4)
    assert video_kind(path) == "video"
    np.testing.assert_array_equal(read_frames(path, [3, 11]), decode_all(path)[[3, 11]])


def test_frame_folder_in_natural_order(tmp_path):
    frames = pattern_frames(12)
    folder = write_frame_folder(tmp_path / "clip", frames)
    assert video_kind(folder) == "frames"
    meta = probe_video(folder)
    assert (meta.kind, meta.num_frames, meta.height, meta.width) == ("frames", 12, 32, 32)
    # frame10.png sorts after frame9.png, not after frame1.png.
    np.testing.assert_array_equal(read_frames(folder, [9, 10, 2]), frames[[9, 10, 2]])


def test_jpg_frame_folder(tmp_path):
    frames = index_frames(5)
    folder = write_frame_folder(tmp_path / "jpgs", frames, ext=".jpg")
    out = read_video(folder)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - frames).mean() < 3


def test_png_strip_cut_by_frame_width(tmp_path):
    frames = pattern_frames(6, height=24, width=32)
    strip = write_strip(tmp_path / "id1#clip.png", frames)
    assert video_kind(strip) == "strip"
    meta = probe_video(strip, frame_size=(24, 32))
    assert (meta.num_frames, meta.height, meta.width) == (6, 24, 32)
    np.testing.assert_array_equal(read_video(strip, frame_size=(24, 32)), frames)
    square = pattern_frames(4, height=16, width=16)
    square_strip = write_strip(tmp_path / "square.png", square)
    np.testing.assert_array_equal(read_frames(square_strip, [3, 1]), square[[3, 1]])


def test_gif(tmp_path):
    frames = index_frames(7)
    path = write_gif(tmp_path / "clip.gif", frames)
    meta = probe_video(path)
    assert (meta.kind, meta.num_frames, meta.height, meta.fps) == ("gif", 7, 16, 25.0)
    np.testing.assert_array_equal(read_video(path), frames)
    np.testing.assert_array_equal(read_frames(path, [6, 2]), frames[[6, 2]])


def test_video_kind_ignores_other_files(tmp_path):
    assert video_kind(tmp_path / "notes.txt") is None
    assert video_kind(tmp_path / ".video_meta.json") is None


def test_meta_round_trip_keeps_irregular_timestamps():
    regular = VideoMeta.from_timestamps([0, 1024, 512, 1536], [0], kind="video")
    assert (regular.pts_start, regular.pts_step, regular.pts) == (0, 512, None)
    irregular = VideoMeta.from_timestamps([0, 10, 30, 31], [0, 30], kind="video")
    assert irregular.pts == [0, 10, 30, 31] and irregular.keyframes == [0, 2]
    again = VideoMeta.from_json(json.loads(json.dumps(irregular.to_json())))
    assert again == irregular
    assert [again.frame_pts(i) for i in range(4)] == [0, 10, 30, 31]
    assert again.index_of_pts(30) == 2 and regular.index_of_pts(1024) == 2
    assert again.keyframe_before(1) == 0 and again.keyframe_before(3) == 2


def test_metadata_cache_reuses_and_reprobes_changed_files(tmp_path, monkeypatch):
    root = tmp_path / "data"
    clip = write_mp4(root / "a.mp4", pattern_frames(10), gop=4)
    folder = write_frame_folder(root / "b", pattern_frames(3))
    calls = []
    real_probe = metadata_cache.probe_video
    monkeypatch.setattr(
        metadata_cache, "probe_video", lambda p, s=None: calls.append(p) or real_probe(p, s)
    )
    metas = MetadataCache(root).probe_all([clip, folder])
    assert [m.num_frames for m in metas] == [10, 3]
    assert (root / ".video_meta.json").is_file()
    assert len(calls) == 2

    again = MetadataCache(root).probe_all([clip, folder])
    assert again == metas and len(calls) == 2  # nothing re-probed

    write_mp4(clip, pattern_frames(14), gop=4)
    os.utime(clip, ns=(1, 1))  # a changed file: another size and mtime
    changed = MetadataCache(root).probe_all([clip, folder])
    assert changed[0].num_frames == 14 and calls[-1] == clip and len(calls) == 3


def test_corrupt_cache_is_rebuilt(tmp_path):
    root = tmp_path / "data"
    clip = write_mp4(root / "a.mp4", pattern_frames(6), gop=4)
    (root / ".video_meta.json").write_text("{not json")
    assert MetadataCache(root).probe_all([clip])[0].num_frames == 6
    assert json.loads((root / ".video_meta.json").read_text())["version"] == 1


def test_read_only_root_caches_in_user_cache_dir(tmp_path, monkeypatch):
    root = tmp_path / "readonly"
    clip = write_mp4(root / "a.mp4", pattern_frames(6), gop=4)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(metadata_cache, "_writable", lambda directory: directory != root)
    cache = MetadataCache(root)
    cache.probe_all([clip])
    assert not (root / ".video_meta.json").exists()
    assert cache.file.parent == tmp_path / "cache" / "deepfake-lab" / "video_meta"
    assert MetadataCache(root).get(clip).num_frames == 6
