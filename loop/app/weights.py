"""Which weights the app offers by default: the newest ones ``make run`` trained.

``make run`` (``python -m loop``) leaves one folder per run under ``logs/loop/runs/``, with
the FOMM stage in ``fomm/`` and the detector stage in ``detector/``; each stage's
``checkpoints.json`` names the checkpoint its checkpoint callback kept. The app reads that
record (never a file-name pattern), newest finished stage first, and says which run and
file it picked, so a person knows what is animating or judging their upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from datamodules.training.selection import RECORD_FILE, best_checkpoint

NO_WEIGHTS_HINT = (
    "Run `make run` (the whole loop trains both models on the embedded dataset, about "
    "10 minutes on a CPU) or give a checkpoint path"
)


@dataclass(frozen=True)
class LoopCheckpoint:
    """A checkpoint one loop run trained.

    Attributes:
        path: the checkpoint file.
        run: the loop run folder it belongs to.
        stage: ``fomm`` or ``detector``.
    """

    path: Path
    run: Path
    stage: str

    def describe(self) -> str:
        """Where it came from, for the page (which shows the path beside it)."""
        return (
            f"the newest that `make run` trained: stage `{self.stage}` of the loop run "
            f"`{self.run.name}` in `{self.run.parent}`"
        )


def loop_runs(runs_dir: str | os.PathLike) -> list[Path]:
    """The loop run folders under ``runs_dir``, newest first (by name: they are timestamps)."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)


def newest_checkpoint(runs_dir: str | os.PathLike, stage: str) -> LoopCheckpoint | None:
    """The checkpoint the newest finished ``stage`` of a loop run selected, or None.

    A run whose stage was killed (no ``checkpoints.json``) or whose recorded file is gone
    is passed over for the next older one.
    """
    for run in loop_runs(runs_dir):
        if not (run / stage / RECORD_FILE).is_file():
            continue
        try:
            return LoopCheckpoint(best_checkpoint(run / stage), run, stage)
        except FileNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class FaceProtocol:
    """How the detector sees faces; it must match how the network was trained.

    Attributes:
        detector: ``mtcnn``, ``haar`` or ``whole_frame`` (a ``conf/detector/`` name).
        policy: ``scale`` or ``tight`` crops.
        size: crop side in pixels (the network's input).
        margin: box margin, a fraction of the box height.
        frames_per_video: frames sampled per video.
    """

    detector: str = "mtcnn"
    policy: str = "scale"
    size: int = 224
    margin: float = 0.2
    frames_per_video: int = 32

    def describe(self) -> str:
        """The protocol in words, for the page."""
        return (
            f"{self.detector} finder, {self.policy} crops of {self.size} px, margin "
            f"{self.margin:g}, {self.frames_per_video} frames sampled"
        )


def loop_face_protocol(run: Path) -> FaceProtocol:
    """The face protocol a loop run scored its detector with (its studies' settings).

    Read from the run's own composed config (``.hydra/config.yaml``,
    ``pipeline.study_overrides``), so the app scores uploads the way that detector was
    tested; a run without that file gets the paper's protocol.
    """
    config_file = run / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return FaceProtocol()
    overrides = OmegaConf.load(config_file).get("pipeline", {}).get("study_overrides", [])
    values: dict[str, str] = {}
    for override in overrides or []:
        key, _, value = str(override).partition("=")
        values[key.removeprefix("scorer.")] = value
    defaults = FaceProtocol()
    return FaceProtocol(
        detector=values.get("detector", defaults.detector),
        policy=values.get("policy", defaults.policy),
        size=int(values.get("size", defaults.size)),
        margin=float(values.get("margin", defaults.margin)),
        frames_per_video=int(values.get("frames_per_video", defaults.frames_per_video)),
    )
