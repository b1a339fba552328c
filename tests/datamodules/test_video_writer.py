from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from datamodules.video_writer import VideoWriter, write_video


def _tone_file(path, codec: str, container_format: str | None = None, seconds: float = 3.0):
    """Write a file holding only a sine tone, with the given audio codec."""
    rate = 16_000
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        t = np.arange(int(rate * seconds)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024][None]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _probe(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        kinds = sorted({s.type for s in container.streams})
        return frames, video.average_rate, (video.width, video.height), kinds


def test_frame_count_rate_and_odd_size(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (12, 33, 31, 3), dtype=np.uint8)
    path = write_video(tmp_path / "clip.mp4", frames, Fraction(30000, 1001))
    count, rate, size, kinds = _probe(path)
    assert count == 12
    assert rate == Fraction(30000, 1001)
    assert size == (32, 34)  # padded to even for yuv420p
    assert kinds == ["video"]


def test_channels_first_float_tensors_are_accepted(tmp_path):
    frames = torch.rand(5, 3, 16, 16)
    path = write_video(tmp_path / "t.mp4", (f for f in frames.split(2)), 10)
    assert _probe(path)[0] == 5


def test_decoded_pixels_are_close_to_input(tmp_path):
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    path = write_video(tmp_path / "g.mp4", np.stack([gradient] * 3), 25, crf=0)
    with av.open(str(path)) as container:
        decoded = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(decoded.astype(int) - gradient.astype(int)).mean() < 3


def test_aac_audio_is_copied_and_cut_to_the_video(tmp_path):
    source = _tone_file(tmp_path / "tone.m4a", "aac", "mp4", seconds=3.0)
    frames = np.zeros((25, 16, 16, 3), np.uint8)
    path = write_video(tmp_path / "with_audio.mp4", frames, 25, audio_from=source)
    assert _probe(path)[3] == ["audio", "video"]
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        last = max(p.pts * p.time_base for p in container.demux(audio) if p.pts is not None)
    assert last <= 1.1  # the 3 s tone is cut where the 1 s video ends


def test_pcm_audio_is_reencoded_to_aac(tmp_path):
    source = _tone_file(tmp_path / "tone.wav", "pcm_s16le", "wav", seconds=1.0)
    path = write_video(
        tmp_path / "pcm.mp4", np.zeros((10, 16, 16, 3), np.uint8), 10, audio_from=source
    )
    with av.open(str(path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"


def test_lower_bitrate_gives_smaller_file(tmp_path):
    yy, xx = np.mgrid[:96, :96]
    frames = np.stack(
        [
            np.stack([(xx * 3 + t * 7) % 256, (yy * 5 + t * 3) % 256, (xx * yy + t * 11) % 256], -1)
            for t in range(40)
        ]
    ).astype(np.uint8)
    low = write_video(tmp_path / "low.mp4", frames, 25, bitrate=110_000)
    high = write_video(tmp_path / "high.mp4", frames, 25, bitrate=8_000_000)
    assert low.stat().st_size < high.stat().st_size
    assert _probe(low)[0] == _probe(high)[0] == 40


def test_error_leaves_no_file_behind(tmp_path):
    target = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target, 25) as writer:
        writer.write(np.zeros((3, 16, 16, 3), np.uint8))
        raise RuntimeError("job killed")
    assert list(tmp_path.iterdir()) == []


def test_size_change_and_empty_video_are_refused(tmp_path):
    with (
        pytest.raises(ValueError, match="differs from the first frame"),
        VideoWriter(tmp_path / "a.mp4", 25) as writer,
    ):
        writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.write(np.zeros((16, 18, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames were written"):
        write_video(tmp_path / "empty.mp4", [], 25)
    assert not (tmp_path / "a.mp4").exists()


def test_gop_size_sets_keyframe_interval_and_one_thread_is_reproducible(tmp_path):
    frames = np.random.default_rng(2).integers(0, 255, (24, 32, 32, 3), dtype=np.uint8)
    first = write_video(tmp_path / "a.mp4", frames, 25, gop_size=6, threads=1)
    second = write_video(tmp_path / "b.mp4", frames, 25, gop_size=6, threads=1)
    assert first.read_bytes() == second.read_bytes()
    with av.open(str(first)) as container:
        keyframes = [i for i, p in enumerate(container.demux(video=0)) if p.is_keyframe]
    assert len(keyframes) >= 4
