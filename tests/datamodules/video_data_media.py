"""Tiny synthetic media for the video data layer tests: every storage kind FOMM datasets use."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image


def pattern_frames(num_frames: int, height: int = 32, width: int = 32) -> np.ndarray:
    """Frames that differ from each other everywhere: a moving bar, a moving dot, a ramp."""
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    for t in range(num_frames):
        frames[t, :, :, 0] = (np.arange(width) * 4 + t * 7) % 256
        frames[t, (t * 3) % height, :, 1] = 255
        cv2.circle(frames[t], ((t * 5) % width, height // 2), 3, (255, 255, 255), -1)
    return frames


def index_frames(num_frames: int, size: int = 16) -> np.ndarray:
    """Frame ``i`` is uniform grey ``10 * i`` with a white left-top corner (to see flips)."""
    frames = np.zeros((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        frames[t] = 10 * t
        frames[t, :4, :4] = 255
    return frames


def write_mp4(
    path: Path, frames: np.ndarray, gop: int = 8, bframes: int = 2, fps: int = 25
) -> Path:
    """H.264 with a keyframe every ``gop`` frames and B-frames, so decode order differs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "crf": "20",
            "preset": "fast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}",
        }
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_encoded(
    path: Path,
    frames: np.ndarray,
    codec: str,
    options: dict[str, str] | None = None,
    max_b_frames: int | None = None,
    keyframes: tuple[int, ...] = (),
) -> Path:
    """Encode with any FFmpeg encoder; ``keyframes`` forces I-frames at irregular places."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = options or {}
        if max_b_frames is not None:
            stream.codec_context.max_b_frames = max_b_frames
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            if index in keyframes:
                frame.pict_type = av.video.frame.PictureType.I
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def decode_all(path: Path) -> np.ndarray:
    """A plain sequential decode of every frame: the reference a seek must match."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def write_frame_folder(folder: Path, frames: np.ndarray, ext: str = ".png") -> Path:
    """One image per frame, named without zero padding to exercise natural sorting."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{index}{ext}"), image[:, :, ::-1])
    return folder


def write_strip(path: Path, frames: np.ndarray) -> Path:
    """The frames side by side in one png, as the FOMM ``*-png`` datasets store them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(list(frames), axis=1)[:, :, ::-1])
    return path


def write_gif(path: Path, frames: np.ndarray) -> Path:
    """An animated gif (frames with few colours survive the palette exactly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(image) for image in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)
    return path
