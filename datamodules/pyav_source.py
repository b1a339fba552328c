"""Frames of an mp4/mov file by index, with PyAV: one forward pass per sorted set of indices.

A FOMM training sample needs two frames of a video; a detector scoring a video needs 32
spread over it. Decoding every frame and keeping a float copy of the clip (what the
official FOMM loader does) wastes both. Here the file is probed once (its packets are
demuxed, not decoded) to learn each frame's presentation timestamp and where the
keyframes are. A read of a sorted set of indices then goes forward once through the
file: it seeks only when the next wanted frame's keyframe lies well past the decoder's
position (so no group of pictures is decoded twice in one read), and lets the decoder
skip the non-reference frames nobody asked for (B-frames that no other frame predicts
from; skipping them changes no other frame's pixels, and with x264's defaults they are
close to half of all frames).

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

# Decoders whose "skip non-reference frames" mode the tests check bit-exact against a full
# decode (FFmpeg's H.264, HEVC and MPEG-4 part 2 decoders mark exactly the frames no other
# frame references). Other codecs decode every frame: some honour the setting only when the
# decoder opens, or define it loosely.
SKIP_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg4"})


class PyAVSource(FrameSource):
    """A video file that FFmpeg can demux (mp4, mov, mkv, avi, webm).

    The container is opened on the first read and kept open for later reads, so a
    caller reading several frames of one video pays for one open, and consecutive reads
    moving forward (chunks of a long video) continue the same pass without seeking.
    DataLoader workers are forked processes: a source used in a new process reopens its
    own container.

    Args:
        path: the video file.
        meta: metadata from the cache, or None to probe on first use.
        threads: decoder threads (0: FFmpeg picks one per core). 1 suits DataLoader
            workers, which already run in parallel, and random access to a few frames:
            with several threads the decoder works on several frames at once (frame
            threading), which speeds a long forward pass but makes every seek wait for
            that many frames. Either way the frames are bit-identical.

    Attributes:
        frames_decoded: frames the decoder has produced so far (for tests and benchmarks;
            skipped non-reference frames are not decoded and not counted).
        seeks: seeks performed so far.
    """

    kind = "video"

    def __init__(
        self, path: str | os.PathLike, meta: VideoMeta | None = None, threads: int = 1
    ) -> None:
        super().__init__(path, meta)
        if threads < 0:
            raise ValueError(f"threads must be >= 0 (0: one per core), got {threads}")
        self.threads = threads
        self.frames_decoded = 0
        self.seeks = 0
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._owner_pid: int | None = None
        self._decoded: Iterator[av.VideoFrame] | None = None
        self._last_index = -1
        self._can_skip = False
        # Timestamps of the frames this read wants, and the last of them: a frame before
        # it that is not wanted may be skipped. Frames after it are decoded in full (the
        # decoder reads a few packets ahead), so the next forward read finds them.
        self._wanted_pts: frozenset[int] = frozenset()
        self._skip_before_pts: int | None = None

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
        self._stream.thread_type = "AUTO" if self.threads != 1 else "SLICE"
        self._stream.thread_count = self.threads
        self._can_skip = self._stream.codec_context.name in SKIP_NONREF_CODECS
        self._owner_pid = os.getpid()
        self._decoded = None
        self._last_index = -1

    def _frames(self) -> Iterator[av.VideoFrame]:
        """Decode the packets from the current position on, skipping unwanted non-reference frames.

        The skip decision is made per packet, before the decoder sees it; the decoder
        honours it only for frames that no other frame references, so every frame it
        outputs is the same as in a full decode.
        """
        context = self._stream.codec_context
        skipping: bool | None = None  # unknown: an earlier pass may have left it on
        for packet in self._container.demux(self._stream):
            pts = packet.pts
            skip = (
                self._can_skip
                and pts is not None
                and self._skip_before_pts is not None
                and pts < self._skip_before_pts
                and pts not in self._wanted_pts
            )
            if skip != skipping:
                context.skip_frame = "NONREF" if skip else "DEFAULT"
                skipping = skip
            for frame in context.decode(packet):
                self.frames_decoded += 1
                yield frame

    def _seek(self, index: int) -> None:
        """Position the decoder at the keyframe at or before frame ``index``."""
        self._container.seek(
            self.meta.frame_pts(index), stream=self._stream, backward=True, any_frame=False
        )
        self._decoded = self._frames()
        self._last_index = -1
        self.seeks += 1

    def _decode_until(self, index: int, rewound: bool = False) -> av.VideoFrame:
        """Decode forward until the frame shown at frame ``index``'s timestamp appears."""
        meta = self.meta
        target = meta.frame_pts(index)
        first_after_seek = self._last_index < 0
        for frame in self._decoded:
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

    def _must_seek(self, index: int) -> bool:
        """Whether reaching frame ``index`` from the decoder's position needs a seek.

        Forward decoding goes on while the frame's keyframe lies at most ``SEEK_MARGIN``
        frames ahead. A frame already passed needs one; that includes every frame an
        earlier read let the decoder skip, as those all lie before the last frame it read.
        """
        return (
            self._decoded is None
            or index <= self._last_index
            or self.meta.keyframe_before(index) > self._last_index + SEEK_MARGIN
        )

    def _read_sorted(self, indices: list[int]) -> list[np.ndarray]:
        meta = self.meta
        self._open()
        self._wanted_pts = frozenset(meta.frame_pts(index) for index in indices)
        self._skip_before_pts = meta.frame_pts(indices[-1])
        frames = []
        try:
            for index in indices:
                if self._must_seek(index):
                    self._seek(index)
                frames.append(self._decode_until(index).to_ndarray(format="rgb24"))
        except av.FFmpegError as error:
            self.close()
            raise UnreadableVideoError(self.path, f"decoding failed ({error})") from error
        finally:
            # Until the next read says what it wants, the decoder's read-ahead skips nothing.
            self._wanted_pts, self._skip_before_pts = frozenset(), None
        return frames

    def close(self) -> None:  # noqa: D102
        if self._container is not None and self._owner_pid == os.getpid():
            self._container.close()
        self._container = None
        self._stream = None
        self._decoded = None
        self._last_index = -1
