"""Synthetic media for the FOMM tool tests: a drawn face, and a talking-face mp4 with audio."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import yaml

from datamodules.face_detection import Face, FaceDetector
from fomm.nets import build_networks

SKIN = (225, 180, 150)
EYE = (40, 30, 30)
MOUTH = (150, 40, 40)
BACKGROUND = 90


def draw_face(
    size: int = 64,
    mouth: float = 0.0,
    shift: tuple[int, int] = (0, 0),
    eye_gap: float = 8.0,
    face_scale: float = 1.0,
    canvas: tuple[int, int] | None = None,
) -> np.ndarray:
    """A cartoon face on a grey background, ``(size, size, 3)`` uint8 RGB.

    ``eye_gap`` (half the distance between the eyes, at size 64) changes the pose as the
    landmarks see it; ``canvas`` (height, width) draws it on a larger frame.
    """
    height, width = canvas or (size, size)
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    cx, cy = width // 2 + shift[0], height // 2 + shift[1]
    s = size / 64 * face_scale
    cv2.ellipse(image, (cx, cy), (int(20 * s), int(26 * s)), 0, 0, 360, SKIN, -1)
    for dx in (-eye_gap, eye_gap):
        cv2.circle(image, (cx + int(dx * s), cy - int(6 * s)), max(2, int(3 * s)), EYE, -1)
    mouth_h = max(1, int((2 + 6 * mouth) * s))
    cv2.ellipse(image, (cx, cy + int(12 * s)), (int(7 * s), mouth_h), 0, 0, 360, MOUTH, -1)
    return image


def talking_frames(num_frames: int, size: int = 64, height: int | None = None) -> np.ndarray:
    """Frames of the face opening its mouth and drifting; ``height`` makes them non-square."""
    frames = []
    for t in range(num_frames):
        face = draw_face(size, mouth=0.5 + 0.5 * np.sin(t / 2), shift=(t % 5 - 2, 0))
        if height is not None and height != size:
            canvas = np.full((height, size, 3), 90, dtype=np.uint8)
            top = (height - size) // 2
            canvas[top : top + size] = face
            face = canvas
        frames.append(face)
    return np.stack(frames)


def write_talking_video(
    path: Path,
    num_frames: int = 10,
    size: int = 64,
    fps: Fraction | int = 25,
    audio: bool = True,
    height: int | None = None,
    frames: np.ndarray | None = None,
) -> Path:
    """Write an H.264 mp4 of ``frames`` (default :func:`talking_frames`), with a sine AAC
    track if ``audio``."""
    fps = Fraction(fps)
    if frames is None:
        frames = talking_frames(num_frames, size, height)
    num_frames = len(frames)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = frames.shape[2], frames.shape[1]
        video.pix_fmt = "yuv420p"
        audio_stream = container.add_stream("aac", rate=44100) if audio else None
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / fps
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio_stream is not None:
            seconds = float(num_frames / fps) + 0.5
            samples = np.sin(np.arange(int(44100 * seconds)) * 2 * np.pi * 440 / 44100)
            samples = (0.2 * samples).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = samples[start : start + 1024][None]
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate = 44100
                frame.pts = start
                container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
    return path


def probe(path: Path) -> dict:
    """Frame count (decoded), frame rate, size and audio presence of a media file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {
            "fps": stream.average_rate,
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
            "audio": len(container.streams.audio) > 0,
        }
        info["frames"] = sum(1 for _ in container.decode(stream))
    return info


class ColourFaceDetector(FaceDetector):
    """Finds the cartoon faces of :func:`draw_face` by colour, with five landmarks.

    Stands in for MTCNN (which does not see cartoons) so tests exercise face tracks,
    crops and best-frame search on synthetic media.
    """

    def __init__(self, max_size: int | None = None) -> None:
        super().__init__(max_size=max_size)

    def _detect_same_size(self, frames: np.ndarray) -> list[list[Face]]:
        found = []
        for frame in frames.astype(np.int32):
            skin = (np.abs(frame - np.array(SKIN)) < 35).all(axis=-1)
            if skin.sum() < 30:
                found.append([])
                continue
            ys, xs = np.nonzero(skin)
            left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            inside = np.zeros_like(skin)
            inside[top:bottom, left:right] = True
            eyes = inside & (np.abs(frame - np.array(EYE)) < 40).all(axis=-1)
            mouth = inside & (np.abs(frame - np.array(MOUTH)) < 45).all(axis=-1)
            cx = (left + right) / 2
            ey, ex = np.nonzero(eyes)
            my, mx = np.nonzero(mouth)
            if len(ex) < 2 or len(mx) < 2:
                found.append([])
                continue
            points = np.array(
                [
                    [ex[ex < cx].mean(), ey[ex < cx].mean()],
                    [ex[ex >= cx].mean(), ey[ex >= cx].mean()],
                    [cx, (top + bottom) / 2],
                    [mx.min(), my.mean()],
                    [mx.max(), my.mean()],
                ],
                dtype=np.float32,
            )
            box = (float(left), float(top), float(right), float(bottom))
            found.append([Face(box=box, confidence=0.99, landmarks=points)])
        return found


TINY_MODEL_PARAMS = {
    "common_params": {"num_kp": 5, "num_channels": 3, "estimate_jacobian": True},
    "kp_detector_params": {
        "temperature": 0.1,
        "block_expansion": 4,
        "max_features": 32,
        "scale_factor": 0.5,
        "num_blocks": 2,
    },
    "generator_params": {
        "block_expansion": 4,
        "max_features": 32,
        "num_down_blocks": 2,
        "num_bottleneck_blocks": 1,
        "estimate_occlusion_map": True,
        "dense_motion_params": {
            "block_expansion": 4,
            "max_features": 32,
            "num_blocks": 2,
            "scale_factor": 0.5,
        },
    },
    "discriminator_params": {
        "scales": [1],
        "block_expansion": 4,
        "max_features": 32,
        "num_blocks": 2,
        "sn": True,
    },
}


def write_tiny_checkpoint(folder: Path, size: int = 64, seed: int = 0) -> tuple[Path, Path]:
    """A randomly initialised FOMM saved as an official ``.pth.tar`` with its yaml."""
    torch.manual_seed(seed)
    networks = build_networks(TINY_MODEL_PARAMS)
    checkpoint = folder / "tiny-cpk.pth.tar"
    config = folder / "tiny.yaml"
    states = {
        name: getattr(networks, name).state_dict()
        for name in ("kp_detector", "generator", "discriminator")
    }
    torch.save(states | {"epoch": 0}, checkpoint)
    layout = {"dataset_params": {"frame_shape": [size, size, 3]}, "model_params": TINY_MODEL_PARAMS}
    config.write_text(yaml.safe_dump(layout))
    return checkpoint, config
