"""The app's bundled samples: a portrait and a driving video the project draws itself.

Why generated: the page needs something to try without an upload, and the repository
holds no third-party media. The synthetic talking heads of the embedded dataset
(:mod:`datamodules.synthetic_faces`) give a portrait of one person and a video of another
one talking; the video gets a quiet tone as its sound track, so the animation shows that
the driving audio is kept. They are drawn once into a folder and reused (a few hundred KB).
"""

from __future__ import annotations

import os
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datamodules.synthetic_faces import random_identity
from datamodules.synthetic_videos import render_talking_head
from datamodules.video_writer import write_video

SAMPLE_SIZE = 128
SAMPLE_FRAMES = 32
SAMPLE_FPS = 25
AUDIO_RATE = 16_000


@dataclass(frozen=True)
class Samples:
    """The sample files.

    Attributes:
        portrait: a PNG of one synthetic person, facing the camera.
        driving: an mp4 (with a sound track) of another person moving and talking.
    """

    portrait: Path
    driving: Path


def _write_tone(path: Path, seconds: float) -> Path:
    """A quiet 440 Hz tone as 16-bit mono WAV (the sample video's sound track)."""
    time = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
    samples = (0.1 * np.sin(2 * np.pi * 440 * time) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(AUDIO_RATE)
        handle.writeframes(samples.tobytes())
    return path


def ensure_samples(folder: str | os.PathLike, seed: int = 7) -> Samples:
    """Draw the samples into ``folder`` unless they are already there.

    Each file appears only once complete (the video writer renames a finished file into
    place; the portrait is written under a temporary name first), so an interrupted first
    run never leaves a half-written sample to be reused.
    """
    folder = Path(folder)
    samples = Samples(portrait=folder / "portrait.png", driving=folder / "driving.mp4")
    if samples.portrait.is_file() and samples.driving.is_file():
        return samples
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sitter, speaker = random_identity(rng), random_identity(rng)
    portrait = render_talking_head(sitter, rng, 1, size=SAMPLE_SIZE)[0]
    frames = render_talking_head(speaker, rng, SAMPLE_FRAMES, size=SAMPLE_SIZE)
    partial = folder / "portrait.partial.png"
    cv2.imwrite(str(partial), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    os.replace(partial, samples.portrait)
    tone = _write_tone(folder / "tone.wav", SAMPLE_FRAMES / SAMPLE_FPS)
    try:
        write_video(samples.driving, frames, SAMPLE_FPS, audio_from=tone)
    finally:
        tone.unlink(missing_ok=True)
    return samples
