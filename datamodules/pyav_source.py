"""Random access to the frames of an mp4/mov file by seeking, with PyAV.

A FOMM training sample needs two frames of a video. Decoding the whole file to
take them (what the official loader does for mp4) costs the full decode of
every frame plus a float copy of the whole clip. Here the file is probed once
(its packets are demuxed, not decoded) to learn each frame's presentation
timestamp and where the keyframes are; a read then seeks to the keyframe at or
before the wanted frame and decodes forward only until that frame appears.

Frame ``i`` is the ``i``-th frame in presentation order, the same frame a full
sequential decode yields as its ``i``-th output, also with B-frames, where the
file stores frames in a different (decode) order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import av
import numpy as np

from datamodules.frame_sources import FrameSource, UnreadableVideoError, VideoMeta

# Keep decoding forward instead of seeking when the wanted frame's keyframe lies at most
# this many frames past the last decoded one: a seek flushes the decoder and restarts at
# that keyframe anyway, so decoding the few frames in between costs less.
SEEK_MARGIN = 16


class PyAVSource(FrameSource):
    """A video file that FFmpeg can demux (mp4, mov, mkv, avi, webm).

    The container is opened on the first read and kept open for later reads, so a
    caller reading several frames of one video pays for one open. DataLoader workers
    are forked processes: a source used in a new process reopens its own container.

    Args:
        path: the video file.
        meta: metadata from the cache, or None to probe on first use.
        threads: decoder threads; 1 suits DataLoader workers, which already run in
            parallel, and keeps seeking cheap (frame threading delays every output).

    Attributes:
        frames_decoded: frames the decoder has produced so far (for tests and benchmarks).
        seeks: seeks performed so far.
    """

    kind = "video"

    def __init__(
        self, path: str | os.PathLike, meta: VideoMeta | None = None, threads: int = 1
    ) -> None:
        super().__init__(path, meta)
        self.threads = threads
        self.frames_decoded = 0
        self.seeks = 0
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._owner_pid: int | None = None
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._last_index = -1

    def probe(self) -> VideoMeta:
        """Demux (without decoding) every packet of the video stream to index its frames."""
        try:
            container = av.open(str(self.path))
        except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
            return VideoMeta(kind=self.kind, error=f"cannot be opened as a video ({error})")
        with container:
            if not container.streams.video:
                return VideoMeta(kind=self.kind, error="the file has no video stream")
            stream = container.streams.video[0]
            pts: list[int] = []
            keyframe_pts: list[int] = []
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.is_discard:
                        continue  # the demuxer's end marker, or frames an edit list hides
                    if packet.pts is None:
                        return VideoMeta(
                            kind=self.kind,
                            error="its frames carry no timestamps; re-mux it "
                            "(ffmpeg -i IN -c copy OUT.mp4)",
                        )
                    pts.append(packet.pts)
                    if packet.is_keyframe:
                        keyframe_pts.append(packet.pts)
            except av.FFmpegError as error:
                return VideoMeta(
                    kind=self.kind, error=f"the file is truncated or corrupt ({error})"
                )
            if not pts:
                return VideoMeta(kind=self.kind, error="the video holds no frames")
            rate = stream.average_rate or stream.guessed_rate
            return VideoMeta.from_timestamps(
                pts,
                keyframe_pts,
                kind=self.kind,
                height=stream.codec_context.height,
                width=stream.codec_context.width,
                fps=float(rate) if rate else None,
            )

    def _open(self) -> None:
        if self._container is not None and self._owner_pid == os.getpid():
            return
        # After a fork the parent's container is only dropped, never used from two processes.
        self._container = None
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as error:
            raise UnreadableVideoError(self.path, f"cannot be opened ({error})") from error
        self._stream = self._container.streams.video[0]
        self._stream.thread_count = self.threads
        self._owner_pid = os.getpid()
        self._decoded = None
        self._last_index = -1

    def _seek(self, index: int) -> None:
        """Position the decoder at the keyframe at or before frame ``index``."""
        self._container.seek(
            self.meta.frame_pts(index), stream=self._stream, backward=True, any_frame=False
        )
        self._decoded = self._container.decode(self._stream)
        self._last_index = -1
        self.seeks += 1

    def _decode_until(self, index: int, rewound: bool = False) -> av.VideoFrame:
        """Decode forward until the frame shown at frame ``index``'s timestamp appears."""
        meta = self.meta
        target = meta.frame_pts(index)
        first_after_seek = self._last_index < 0
        for frame in self._decoded:
            self.frames_decoded += 1
            if frame.pts is None:
                raise UnreadableVideoError(self.path, "decoded frames carry no timestamps")
            if first_after_seek and frame.pts > target and not rewound:
                # The container's index put us past the frame (broken or missing index):
                # start over from the first frame and decode forward.
                self._seek(0)
                return self._decode_until(index, rewound=True)
            first_after_seek = False
            self._last_index = meta.index_of_pts(frame.pts)
            if frame.pts >= target:
                return frame
        raise UnreadableVideoError(
            self.path,
            f"decoding stopped before frame {index} of {meta.num_frames}; "
            "the file is truncated or corrupt",
        )

    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        meta = self.meta
        self._open()
        frames = []
        try:
            for index in indices:
                must_seek = (
                    self._decoded is None
                    or index <= self._last_index
                    or meta.keyframe_before(index) > self._last_index + SEEK_MARGIN
                )
                if must_seek:
                    self._seek(index)
                frames.append(self._decode_until(index).to_ndarray(format="rgb24"))
        except av.FFmpegError as error:
            self.close()
            raise UnreadableVideoError(self.path, f"decoding failed ({error})") from error
        return frames

    def close(self) -> None:  # noqa: D102
        if self._container is not None and self._owner_pid == os.getpid():
            self._container.close()
        self._container = None
        self._stream = None
        self._decoded = None
        self._last_index = -1
