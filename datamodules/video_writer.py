"""Write RGB frames to H.264 mp4 files, optionally carrying another file's audio.

Every tool that produces video (animation, generated fakes, re-encodes for the
bitrate study, attention overlays, the embedded dataset) writes through this one
class, so they all get the same guarantees: a file appears at its final path only
when it is complete (a killed job never leaves a half-written mp4 that a resumed
job would mistake for finished work), the frame rate is kept exactly (rational
rates such as 30000/1001 included), and the audio of a driving video survives.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
import torch

log = logging.getLogger(__name__)

# Audio codecs the mp4 muxer stores as they are; anything else is re-encoded to AAC.
_MP4_AUDIO_CODECS = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


def as_fraction(fps: float | Fraction | int) -> Fraction:
    """Turn a frame rate into an exact fraction (25.0 -> 25, 29.97 -> 2997/100)."""
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return rate


def to_uint8_frames(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """Bring frames to ``(N, H, W, 3)`` uint8 RGB.

    Accepts one frame or a batch; channels first ``(N, 3, H, W)`` tensors as the
    networks produce them, or channels last arrays as image libraries do; floats
    are taken to be in [0, 1].
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().numpy()
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"expected (N, H, W, 3) or (N, 3, H, W) frames, got shape {array.shape}")
    if array.shape[-1] != 3 and array.shape[1] == 3:
        array = array.transpose(0, 2, 3, 1)
    if array.shape[-1] != 3:
        raise ValueError(f"expected RGB frames with 3 channels, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


class VideoWriter:
    """Stream frames into an H.264 mp4 that appears at ``path`` only once complete.

    Use as a context manager; on an exception the partial file is removed.

    Args:
        path: the mp4 to write (parent folders are created).
        fps: frame rate, kept exactly.
        crf: constant-quality factor for libx264 (lower is better; 18 is visually
            lossless). Ignored when ``bitrate`` is given.
        bitrate: target bits per second (e.g. ``110_000``), for bitrate studies.
        preset: libx264 speed/size trade-off.
        audio_from: a media file whose audio stream is copied (or re-encoded to AAC
            when mp4 cannot hold its codec). None, or a file without audio, writes
            video only.
        pix_fmt: ``yuv420p`` plays everywhere; it needs even sizes, so odd frame
            sizes are padded by one replicated row or column.
        gop_size: frames between keyframes (None leaves libx264's default, 250);
            small values make seeking cheap, large ones make files small.
        threads: encoder threads; 1 makes the output bytes reproducible (libx264's
            multithreaded encoding is not bit-exact between runs). None lets it choose.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction | int,
        *,
        crf: int | None = 18,
        bitrate: int | None = None,
        preset: str = "medium",
        audio_from: str | os.PathLike | None = None,
        pix_fmt: str = "yuv420p",
        codec: str = "libx264",
        gop_size: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.fps = as_fraction(fps)
        self.crf = crf
        self.bitrate = bitrate
        self.preset = preset
        self.audio_from = Path(audio_from) if audio_from else None
        self.pix_fmt = pix_fmt
        self.codec = codec
        self.gop_size = gop_size
        self.threads = threads
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._container = av.open(str(self._tmp_path), mode="w")
        self._stream: av.VideoStream | None = None
        self._size: tuple[int, int] | None = None
        self._audio_source: av.container.InputContainer | None = None
        self._audio_in: av.AudioStream | None = None
        self._audio_out: av.AudioStream | None = None
        self._audio_copy = True
        self._closed = False

    def _open_stream(self, height: int, width: int) -> None:
        stream = self._container.add_stream(self.codec, rate=self.fps)
        stream.width = width + width % 2
        stream.height = height + height % 2
        stream.pix_fmt = self.pix_fmt
        options = {"preset": self.preset}
        if self.bitrate:
            stream.bit_rate = int(self.bitrate)
            # A VBV buffer makes libx264 actually hold the target rate on short clips.
            options.update(
                {"maxrate": str(int(self.bitrate)), "bufsize": str(2 * int(self.bitrate))}
            )
        elif self.crf is not None:
            options["crf"] = str(self.crf)
        if self.gop_size:
            stream.codec_context.gop_size = int(self.gop_size)
        if self.threads:
            options["threads"] = str(int(self.threads))
        stream.options = options
        self._stream = stream
        self._size = (height, width)
        # Every stream must exist before the first packet is muxed (the header is written then).
        self._add_audio_stream()
        if height % 2 or width % 2:
            log.info(
                "%s: padding odd frame size %dx%d to even for yuv420p", self.path, width, height
            )

    def write(self, frames: np.ndarray | torch.Tensor) -> None:
        """Append one frame or a batch (see :func:`to_uint8_frames` for accepted layouts)."""
        batch = to_uint8_frames(frames)
        if self._stream is None:
            self._open_stream(batch.shape[1], batch.shape[2])
        if batch.shape[1:3] != self._size:
            raise ValueError(
                f"{self.path}: frame size {batch.shape[2]}x{batch.shape[1]} differs from the "
                f"first frame's {self._size[1]}x{self._size[0]}; resize frames before writing"
            )
        pad_h, pad_w = batch.shape[1] % 2, batch.shape[2] % 2
        if pad_h or pad_w:
            batch = np.pad(batch, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        for image in batch:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = self.frames_written
            frame.time_base = 1 / self.fps
            self._container.mux(self._stream.encode(frame))
            self.frames_written += 1

    def _add_audio_stream(self) -> None:
        if self.audio_from is None:
            return
        source = av.open(str(self.audio_from))
        if not source.streams.audio:
            log.debug("%s has no audio stream; writing video only", self.audio_from)
            source.close()
            return
        audio_in = source.streams.audio[0]
        self._audio_source, self._audio_in = source, audio_in
        if audio_in.codec_context.name in _MP4_AUDIO_CODECS:
            self._audio_out = self._container.add_stream_from_template(audio_in)
            self._audio_copy = True
        else:
            rate = audio_in.codec_context.sample_rate or 44_100
            self._audio_out = self._container.add_stream("aac", rate=rate)
            self._audio_copy = False

    def _mux_audio(self) -> None:
        """Copy (or re-encode) the audio, cut where the video ends."""
        if self._audio_out is None:
            return
        source, audio_in, audio_out = self._audio_source, self._audio_in, self._audio_out
        video_duration = float(self.frames_written / self.fps)
        try:
            if self._audio_copy:
                for packet in source.demux(audio_in):
                    if packet.dts is None:
                        continue
                    if packet.pts is not None and packet.pts * audio_in.time_base > video_duration:
                        break
                    packet.stream = audio_out
                    self._container.mux(packet)
            else:
                for frame in source.decode(audio_in):
                    if frame.time is not None and frame.time > video_duration:
                        break
                    frame.pts = None
                    self._container.mux(audio_out.encode(frame))
                self._container.mux(audio_out.encode(None))
        finally:
            source.close()

    def close(self) -> Path:
        """Flush the encoder, add the audio, and move the file to its final path."""
        if self._closed:
            return self.path
        if self._stream is None:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written; nothing to save")
        self._container.mux(self._stream.encode(None))
        self._mux_audio()
        self._container.close()
        os.replace(self._tmp_path, self.path)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop the partial file (used on errors, so no broken mp4 is left behind)."""
        if self._closed:
            return
        self._closed = True
        if self._audio_source is not None:
            self._audio_source.close()
        with contextlib.suppress(av.FFmpegError, ValueError):
            self._container.close()
        self._tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
    fps: float | Fraction | int,
    **options,
) -> Path:
    """Write frames to an H.264 mp4 in one call; options as for :class:`VideoWriter`.

    ``frames`` may be one array/tensor of shape ``(N, H, W, 3)`` or ``(N, 3, H, W)``,
    or an iterable of frames or batches (so generators stream without holding the
    whole video in memory).

    Returns:
        The path of the finished file.
    """
    with VideoWriter(path, fps, **options) as writer:
        if isinstance(frames, np.ndarray | torch.Tensor):
            writer.write(frames)
        else:
            for chunk in frames:
                writer.write(chunk)
    return writer.path
