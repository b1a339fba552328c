"""One forward pass per sorted read: each frame decoded at most once, bit-exact results."""

from collections import Counter

import av
import numpy as np
import pytest
from video_data_media import decode_all, pattern_frames, write_encoded

from datamodules.pyav_source import PyAVSource

NUM_FRAMES = 150
WANTED = np.unique(np.linspace(0, NUM_FRAMES - 1, 32).round().astype(int)).tolist()

# Several keyframes, B-frames (decode order differs from display order), odd spacing.
VIDEOS = {
    "h264_gop13": ("libx264", {"x264-params": "keyint=13:min-keyint=13:scenecut=0:bframes=3"}),
    "h264_irregular_keyframes": (
        "libx264",
        {"x264-params": "keyint=200:min-keyint=200:scenecut=0:bframes=3"},
    ),
    "hevc_gop29": (
        "libx265",
        {"x265-params": "keyint=29:min-keyint=29:scenecut=0:bframes=3:log-level=error"},
    ),
    "mpeg4_bframes": ("mpeg4", {"g": "17"}),
}
IRREGULAR_KEYFRAMES = (7, 11, 30, 31, 47, 90, 137)


class CountingSource(PyAVSource):
    """Counts how often the decoder outputs each frame (by timestamp)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decoded_pts: Counter[int] = Counter()

    def _frames(self):
        for frame in super()._frames():
            self.decoded_pts[frame.pts] += 1
            yield frame


@pytest.fixture(scope="module", params=sorted(VIDEOS))
def video(request, tmp_path_factory):
    codec, options = VIDEOS[request.param]
    path = tmp_path_factory.mktemp("forward") / f"{request.param}.mp4"
    keyframes = IRREGULAR_KEYFRAMES if "irregular" in request.param else ()
    max_b_frames = 2 if codec == "mpeg4" else None
    frames = pattern_frames(NUM_FRAMES, 64, 64)
    return write_encoded(path, frames, codec, options, max_b_frames, keyframes)


def test_the_videos_have_b_frames_and_several_keyframes(video):
    with av.open(str(video)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    decode_order = [p.pts for p in packets]
    assert decode_order != sorted(decode_order)
    keyframes = sorted(p.pts for p in packets if p.is_keyframe)
    assert len(keyframes) >= 4
    if "irregular" in video.name:
        step = sorted(decode_order)[1] - sorted(decode_order)[0]
        assert [pts // step for pts in keyframes] == [0, *IRREGULAR_KEYFRAMES]


def test_sorted_read_decodes_each_frame_at_most_once_and_matches_a_full_decode(video):
    reference = decode_all(video)
    assert len(reference) == NUM_FRAMES
    source = CountingSource(video)
    frames = source.read(WANTED)
    np.testing.assert_array_equal(frames, reference[WANTED])
    assert max(source.decoded_pts.values()) == 1
    assert source.frames_decoded == sum(source.decoded_pts.values())
    # Unwanted non-reference frames were skipped, not decoded.
    assert source.frames_decoded < NUM_FRAMES
    source.close()


@pytest.mark.parametrize("threads", [0, 3])
def test_threaded_decoding_gives_the_same_frames(video, threads):
    with PyAVSource(video) as single, PyAVSource(video, threads=threads) as threaded:
        np.testing.assert_array_equal(threaded.read(WANTED), single.read(WANTED))
        everything = list(range(NUM_FRAMES))
        np.testing.assert_array_equal(threaded.read(everything), decode_all(video))


def test_forward_chunks_continue_one_pass(video):
    """Reads moving forward (a long video in chunks) never seek back or decode twice."""
    reference = decode_all(video)
    source = CountingSource(video)
    for start in range(0, NUM_FRAMES, 7):
        chunk = list(range(start, min(start + 7, NUM_FRAMES)))
        np.testing.assert_array_equal(source.read(chunk), reference[chunk])
    assert source.seeks == 1
    assert max(source.decoded_pts.values()) == 1
    source.close()


def test_reading_back_a_skipped_frame_seeks_and_gives_it_exactly(video):
    reference = decode_all(video)
    with PyAVSource(video) as source:
        np.testing.assert_array_equal(source.read([0, 120]), reference[[0, 120]])
        for index in (61, 119, 121, 5):
            np.testing.assert_array_equal(source.read([index])[0], reference[index])


def test_far_apart_frames_seek_instead_of_decoding_the_gap(tmp_path):
    frames = pattern_frames(NUM_FRAMES, 32, 32)
    options = {"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=2"}
    path = write_encoded(tmp_path / "gop10.mp4", frames, "libx264", options)
    source = CountingSource(path)
    np.testing.assert_array_equal(source.read([3, 140]), decode_all(path)[[3, 140]])
    assert source.seeks == 2
    gap = range(source.meta.frame_pts(20), source.meta.frame_pts(130))
    assert not any(pts in gap for pts in source.decoded_pts)
    source.close()
