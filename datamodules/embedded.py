"""The embedded default dataset: synthetic talking heads, generated on first use.

``data=embedded`` needs no download: the first run renders small talking-head
videos (:mod:`datamodules.synthetic_faces`) into ``<data_dir>/embedded`` in the
layout of a real FOMM dataset (``train/``, ``val/`` and ``test/`` with ``ID#video.mp4``
files; each identity appears in one split only, so the checkpoint chosen on ``val/``
never saw the test people), and from then on it is read like any other dataset. A
given spec always renders the same frames (the encoded bytes can differ slightly:
multithreaded libx264 is not bit-exact); generation takes a few seconds. A
``manifest.json`` written last records the spec and every file's size; a folder
whose manifest is missing, stale or contradicted by the files is rebuilt, never
trusted. The new copy is built in a temporary folder and renamed
into place, so an interrupted generation leaves nothing half-made.
``landmarks.csv`` beside the manifest holds the drawn faces' five landmarks per frame
(:mod:`datamodules.synthetic_landmarks`), for self-blended training, and
``occlusion_events.csv`` what a hand or object crossing the face hides in each frame
(:mod:`datamodules.synthetic_occlusion_events`), the truth the occlusion study
compares occlusion maps with.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datamodules.pairs import FOMMDataModule
from datamodules.synthetic_landmarks import write_embedded_landmarks
from datamodules.synthetic_occlusion_events import write_embedded_occlusion_events
from datamodules.synthetic_videos import render_plan, split_plans
from datamodules.video_writer import write_video

log = logging.getLogger(__name__)

# 2: head turns and occlusion events (version 1 copies are rebuilt).
GENERATOR_VERSION = 2
MANIFEST = "manifest.json"
MAX_HEAD_TURN = 45.0  # degrees; past about 60 the far eye would slide past the near one


def write_talking_heads(
    out_dir: str | os.PathLike,
    num_identities: int,
    videos_per_identity: int,
    num_frames: int,
    size: int = 64,
    seed: int = 0,
    fps: int = 25,
    first_identity: int = 0,
    head_turn: float = 30.0,
    occluded_share: float = 0.5,
) -> list[Path]:
    """Render talking-head videos and write them as ``id<k>#<v>.mp4`` into ``out_dir``.

    Identity ``k`` looks the same for a given ``seed`` whatever the other arguments, so
    disjoint identity ranges (``first_identity``) give disjoint people, e.g. a train
    and a test split, or more identities for another study.

    Args:
        out_dir: destination folder (created).
        num_identities: how many people.
        videos_per_identity: videos of each person (different background and motion).
        num_frames: frames per video.
        size: frame width and height in pixels.
        seed: the seed everything is drawn from.
        fps: frame rate written to the files.
        first_identity: number of the first identity.
        head_turn: the largest left-right head turn, in degrees (0: none).
        occluded_share: the share of the videos in which a hand or an object crosses
            the face once (rounded to whole videos).

    Returns:
        The written files.
    """
    check_generator_settings(head_turn, occluded_share)
    out_dir = Path(out_dir)
    written = []
    for planned in split_plans(
        num_identities, videos_per_identity, num_frames, size, seed, fps, first_identity,
        head_turn, occluded_share,
    ):  # fmt: skip
        frames = render_plan(planned.face, planned.plan, size)
        path = out_dir / f"{planned.name}.mp4"
        written.append(write_video(path, frames, fps, preset="veryfast"))
    return written


def check_generator_settings(head_turn: float, occluded_share: float) -> None:
    """Refuse turns or shares the generator cannot draw, naming the config key.

    Raises:
        ValueError: ``head_turn`` outside [0, 45] or ``occluded_share`` outside [0, 1].
    """
    if not 0 <= head_turn <= MAX_HEAD_TURN:
        raise ValueError(
            f"data.head_turn={head_turn}: the synthetic heads turn between 0 and "
            f"{MAX_HEAD_TURN:g} degrees"
        )
    if not 0 <= occluded_share <= 1:
        raise ValueError(f"data.occluded_share={occluded_share} must be in [0, 1]")


@dataclass(frozen=True)
class EmbeddedSpec:
    """What the embedded dataset holds; any change makes a new dataset."""

    train_identities: int = 16
    test_identities: int = 4
    train_videos_per_identity: int = 3
    test_videos_per_identity: int = 2
    val_identities: int = 2
    val_videos_per_identity: int = 2
    num_frames: int = 80
    size: int = 64
    fps: int = 25
    seed: int = 0
    head_turn: float = 30.0
    occluded_share: float = 0.5

    def as_manifest(self) -> dict[str, Any]:
        """The spec as stored in the manifest, with the generator version."""
        return {"generator_version": GENERATOR_VERSION, **asdict(self)}

    def split_layout(self) -> list[tuple[str, int, int, int]]:
        """``(split, identities, videos per identity, first identity)`` of each split.

        Validation people are numbered after the test people, so adding them left train
        and test exactly as they were. The videos and their landmarks both follow this.
        """
        return [
            ("train", self.train_identities, self.train_videos_per_identity, 0),
            ("test", self.test_identities, self.test_videos_per_identity, self.train_identities),
            ("val", self.val_identities, self.val_videos_per_identity,
             self.train_identities + self.test_identities),
        ]  # fmt: skip


def _read_manifest(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_complete(root: str | os.PathLike, spec: EmbeddedSpec) -> bool:
    """Whether ``root`` holds the dataset of ``spec``, every file present with its size."""
    root = Path(root)
    manifest = _read_manifest(root)
    if not isinstance(manifest, dict) or manifest.get("spec") != spec.as_manifest():
        return False
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for relative, size in files.items():
        try:
            if (root / relative).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def ensure_embedded_dataset(root: str | os.PathLike, spec: EmbeddedSpec | None = None) -> Path:
    """Generate the embedded dataset at ``root`` unless a complete copy is already there.

    Raises:
        FileExistsError: ``root`` holds other files and no manifest (not a generated copy,
            so it is not deleted).
    """
    root, spec = Path(root), spec or EmbeddedSpec()
    check_generator_settings(spec.head_turn, spec.occluded_share)
    if is_complete(root, spec):
        write_embedded_landmarks(root, spec)  # restores a deleted table
        write_embedded_occlusion_events(root, spec)
        return root
    if root.exists() and not (root / MANIFEST).exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} exists and is not a generated embedded dataset (no {MANIFEST}); "
            "move it away or point data.root_dir at another folder"
        )
    started = time.perf_counter()
    log.info("Generating the embedded talking-head dataset in %s", root)
    building = root.parent / f".{root.name}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        for split, identities, videos, first in spec.split_layout():
            if identities > 0:
                write_talking_heads(
                    building / split,
                    identities,
                    videos,
                    spec.num_frames,
                    spec.size,
                    spec.seed,
                    spec.fps,
                    first_identity=first,
                    head_turn=spec.head_turn,
                    occluded_share=spec.occluded_share,
                )
        files = {
            path.relative_to(building).as_posix(): path.stat().st_size
            for path in sorted(building.rglob("*.mp4"))
        }
        write_embedded_landmarks(building, spec)
        write_embedded_occlusion_events(building, spec)
        manifest = {"spec": spec.as_manifest(), "files": files}
        (building / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _swap_into_place(building, root, spec)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log.info(
        "Embedded dataset ready: %d videos in %.1f s", len(files), time.perf_counter() - started
    )
    return root


def _swap_into_place(building: Path, root: Path, spec: EmbeddedSpec) -> None:
    """Replace ``root`` by the finished ``building`` folder; a concurrent twin may win."""
    if is_complete(root, spec):  # another process finished first: keep its copy
        return
    retired = root.parent / f".{root.name}.old-{os.getpid()}"
    if root.exists():
        root.rename(retired)
    try:
        building.rename(root)
    except OSError:
        if not is_complete(root, spec):
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


class EmbeddedDataModule(FOMMDataModule):
    """The FOMM DataModule on the embedded dataset, generating it on first use.

    Args:
        root_dir: where the dataset lives (``${paths.data_dir}/embedded``).
        frame_shape: ``[S, S, 3]``; videos are rendered at ``S x S``.
        train_identities: people in ``train/``.
        test_identities: other people, in ``test/``.
        train_videos_per_identity: videos of each training identity.
        test_videos_per_identity: videos of each test identity.
        val_identities: yet other people, in ``val/`` (validation never uses test people);
            0 writes no ``val/``, and validation is then held out of ``train/`` (``val_identities``
            of the :class:`~datamodules.pairs.FOMMDataModule`, which this also sets).
        val_videos_per_identity: videos of each validation identity.
        num_frames: frames per video.
        fps: frame rate of the files.
        seed: seed of the generator.
        head_turn: the largest left-right head turn in degrees (0 to 45; 0: none).
        occluded_share: share of the videos of each split in which a hand or an object
            crosses the face (``occlusion_events.csv`` records when and how much).
        **kwargs: the :class:`~datamodules.pairs.FOMMDataModule` arguments.
    """

    def __init__(
        self,
        root_dir: str,
        frame_shape: Sequence[int] = (64, 64, 3),
        train_identities: int = 16,
        test_identities: int = 4,
        train_videos_per_identity: int = 3,
        test_videos_per_identity: int = 2,
        val_identities: int = 2,
        val_videos_per_identity: int = 2,
        num_frames: int = 80,
        fps: int = 25,
        seed: int = 0,
        head_turn: float = 30.0,
        occluded_share: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(root_dir, frame_shape=frame_shape, val_identities=val_identities, **kwargs)
        if self.frame_shape[0] != self.frame_shape[1]:
            raise ValueError(f"frame_shape={list(self.frame_shape)}: embedded frames are square")
        self.spec = EmbeddedSpec(
            train_identities=train_identities,
            test_identities=test_identities,
            train_videos_per_identity=train_videos_per_identity,
            test_videos_per_identity=test_videos_per_identity,
            val_identities=val_identities,
            val_videos_per_identity=val_videos_per_identity,
            num_frames=num_frames,
            size=self.frame_shape[0],
            fps=fps,
            seed=seed,
            head_turn=float(head_turn),
            occluded_share=float(occluded_share),
        )
        check_generator_settings(self.spec.head_turn, self.spec.occluded_share)

    def prepare_data(self) -> None:
        """Generate the dataset if needed (once per node), then probe it."""
        ensure_embedded_dataset(self.root_dir, self.spec)
        super().prepare_data()

    def setup(self, stage: str | None = None) -> None:
        """Make sure the dataset exists (also when used without a Trainer), then build it."""
        ensure_embedded_dataset(self.root_dir, self.spec)
        super().setup(stage)
