r"""Reconstruction evaluation of an FOMM checkpoint: ``python -m fomm.evaluate``.

Examples::

    python -m fomm.evaluate checkpoint=vox-cpk.pth.tar config=vox-256.yaml data=vox \\
        keypoint_metrics=true
    python -m fomm.evaluate checkpoint=last.ckpt videos=my_test_clips/ side_by_side=true

For every test video (the ``test`` split of a data config, or every video in a folder)
the first frame is animated with every frame's absolute keypoints (the paper's
reconstruction protocol, :mod:`fomm.reconstruction`). Written to ``output_dir``:

* ``reconstruction.csv``: one row per video: frames, mean L1 (pixels in [0, 1]), mean
  occluded fraction, and with ``keypoint_metrics`` the 5-point AKD (pixels) and the
  share of frames whose face is lost in the generated frame;
* ``reconstruction_frames.csv``: the same per frame;
* ``summary.json``: the overall means; ``l1`` averages over all frames as the official
  ``reconstruction.py`` does, ``l1_video_mean`` over videos;
* ``videos/<name>.mp4``: the reconstructions (``source | real | generated`` with
  ``side_by_side``).

Rerunning with the same ``output_dir`` skips the videos already in the CSV; unreadable
videos are skipped, counted and named at the end. The AKD here uses MTCNN's 5 landmarks,
not the paper's 68 face-alignment landmarks (see :mod:`fomm.landmarks`): its numbers are
not comparable with the paper's tables.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from datamodules.command_errors import InputError, exit_on_input_error
from datamodules.devices import resolve_device
from datamodules.face_detection import FaceDetector
from datamodules.fomm_layout import list_video_items
from datamodules.video_io import UnreadableVideoError
from datamodules.video_writer import VideoWriter, as_fraction
from fomm.evaluation_tables import ResultTables, VideoScore, summarize
from fomm.landmarks import detect_landmarks, keypoint_distance
from fomm.media import (
    autocast_dtype,
    fit_frames,
    iter_chunks,
    load_model,
    model_frame_size,
    open_input_video,
    to_tensor,
    video_fps,
)
from fomm.reconstruction import Reconstruction, reconstruct

log = logging.getLogger(__name__)


@dataclass
class TestVideo:
    """One video to reconstruct: frames ``(T, 3, H, W)`` in [0, 1] and its frame rate."""

    name: str
    frames: torch.Tensor
    fps: float


def score_video(
    networks: torch.nn.Module,
    video: TestVideo,
    detector: FaceDetector | None = None,
    batch_size: int = 16,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[VideoScore, Reconstruction]:
    """Reconstruct one video and score it (L1, occlusion and, with a detector, 5-point AKD)."""
    started = time.perf_counter()
    result = reconstruct(
        networks, video.frames, batch_size=batch_size, autocast_dtype=autocast_dtype
    )
    frames = len(result.l1)
    occluded = result.occluded_fraction
    per_frame = {
        "l1": result.l1,
        "occluded_fraction": occluded if occluded is not None else np.full(frames, np.nan),
        "akd": np.full(frames, np.nan),
    }
    score = VideoScore(
        video=video.name,
        frames=frames,
        l1=result.l1_mean,
        occluded_fraction=result.occluded_mean,
    )
    if detector is not None:
        real = detect_landmarks(detector, _to_uint8(video.frames))
        generated = detect_landmarks(detector, _to_uint8(result.prediction))
        distance = keypoint_distance(real, generated)
        score.akd = distance.akd
        score.missing_rate = distance.missing_rate
        score.frames_compared = distance.frames_compared
        per_frame["akd"] = distance.per_frame
    score.per_frame = per_frame
    score.seconds = time.perf_counter() - started
    return score, result


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """``(T, 3, H, W)`` float in [0, 1] -> ``(T, H, W, 3)`` uint8."""
    return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def folder_videos(
    folder: str | os.PathLike, size: int, fit: str, skipped: list[str], done: set[str]
) -> tuple[int, Iterator[TestVideo]]:
    """The videos of a folder, fitted to the model's size; unreadable ones go to ``skipped``.

    Videos named in ``done`` are not read (a resumed run).

    Returns:
        The number of items and an iterator over the readable ones.
    """
    root = Path(str(folder)).expanduser()
    if not root.is_dir():
        raise InputError(f"videos={root} is not a folder; pass a folder of test videos")
    items = list_video_items(root)
    if not items:
        raise InputError(
            f"videos={root} holds no videos (mp4/mov/mkv/avi/webm, gif, frame folders)"
        )

    def generate() -> Iterator[TestVideo]:
        for item in items:
            if item.name in done:
                continue
            try:
                with open_input_video(item.path, option="videos") as source:
                    fps = float(video_fps(source))
                    frames = np.concatenate(
                        [fit_frames(chunk, size, fit) for _, chunk in iter_chunks(source, 64)]
                    )
            except InputError as error:
                skipped.append(str(error))
                log.warning("Skipping %s", error)
                continue
            yield TestVideo(item.name, to_tensor(frames), fps)

    return len(items), generate()


def dataset_videos(
    data_cfg: DictConfig, fps: float, skipped: list[str], done: set[str]
) -> tuple[int, Iterator[TestVideo]]:
    """The test split of a FOMM data config (a DataModule with a ``test_set``).

    Videos named in ``done`` are not read (a resumed run). ``fps`` is used for the
    written videos where the files store no frame rate (png strips, frame folders).
    """
    datamodule = hydra.utils.instantiate(data_cfg)
    datamodule.prepare_data()
    datamodule.setup("test")
    test_set = datamodule.test_set

    def generate() -> Iterator[TestVideo]:
        for index in range(len(test_set)):
            if test_set.videos.items[index].name in done:
                continue
            sample = test_set[index]
            if "video" not in sample:
                skipped.extend(sample.get("skipped", [sample["name"]]))
                continue
            stored_fps = test_set.videos.metas[index].fps
            yield TestVideo(sample["name"], sample["video"], stored_fps or fps)

    return len(test_set), generate()


def evaluate(cfg: DictConfig, detector: FaceDetector | None = None) -> dict[str, Any]:
    """Run the reconstruction evaluation of ``conf/evaluate.yaml``; return the summary.

    Args:
        cfg: the composed config.
        detector: a ready landmark detector for ``keypoint_metrics`` (default: built
            from ``cfg.detector``).

    Raises:
        InputError: a bad checkpoint, data source or option.
    """
    device = resolve_device(cfg.device)
    networks = load_model(cfg.checkpoint, cfg.config, device, trust_pickle=cfg.trust_checkpoint)
    size = int(cfg.size or model_frame_size(networks))
    output_dir = Path(str(cfg.output_dir))
    output_dir.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    tables = ResultTables(output_dir)
    done = set(tables.done)
    if done:
        log.info("%d videos already in %s; skipping them", len(done), tables.videos_path)
    if cfg.get("videos"):
        total, videos = folder_videos(cfg.videos, size, cfg.fit, skipped, done)
    elif cfg.get("data"):
        total, videos = dataset_videos(cfg.data, cfg.fps, skipped, done)
    else:
        raise InputError(
            "nothing to evaluate; pass data=<dataset config> (e.g. data=vox) or videos=FOLDER"
        )
    autocast = autocast_dtype(cfg.precision)
    if not cfg.keypoint_metrics:
        detector = None
    elif detector is None:
        detector = hydra.utils.instantiate(cfg.detector)
    limit = cfg.get("max_videos")
    remaining = max(0, total - len(done))
    if limit is not None:
        remaining = min(remaining, max(0, int(limit) - len(tables.rows)))
    with tqdm(
        total=remaining, desc="reconstructing", unit="video", disable=not cfg.progress
    ) as bar:
        for video in videos:
            if limit is not None and len(tables.rows) >= int(limit):
                break
            bar.update(1)
            try:
                score, result = score_video(networks, video, detector, cfg.batch_size, autocast)
            except UnreadableVideoError as error:
                skipped.append(str(error))
                continue
            if cfg.save_videos:
                _write_reconstruction(output_dir, video, result, cfg.side_by_side, cfg.crf)
            tables.add(score)
            bar.set_postfix(l1=f"{score.l1:.4f}")
    summary = summarize(tables.rows, skipped)
    summary.update(
        checkpoint=str(cfg.checkpoint),
        source=str(cfg.videos) if cfg.get("videos") else OmegaConf.select(cfg, "data._target_"),
        frame_size=size,
        keypoint_metrics=bool(cfg.keypoint_metrics),
    )
    (output_dir / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
    if skipped:
        log.warning("skipped %d unreadable video(s):\n  %s", len(skipped), "\n  ".join(skipped))
    return summary


def _json_safe(value: Any) -> Any:
    """NaN (no face, no occlusion map) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _write_reconstruction(
    output_dir: Path, video: TestVideo, result: Reconstruction, side_by_side: bool, crf: int
) -> Path:
    frames = result.prediction
    if side_by_side:
        source = video.frames[:1].expand_as(video.frames)
        frames = torch.cat([source, video.frames, frames], dim=3)
    path = output_dir / "videos" / f"{video.name}.mp4"
    with VideoWriter(path, as_fraction(video.fps), crf=crf) as writer:
        for start in range(0, len(frames), 64):
            writer.write(frames[start : start + 64])
    return path


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
@exit_on_input_error
def main(cfg: DictConfig) -> None:
    """``python -m fomm.evaluate checkpoint=PATH (data=NAME | videos=DIR) [...]``."""
    summary = evaluate(cfg)
    print(
        f"{summary['videos']} videos, {summary.get('frames', 0)} frames: "
        f"L1 {summary.get('l1', float('nan')):.4f}"
        + (
            f", AKD(5-pt) {summary['akd_5point']:.2f} px, lost faces {summary['missing_rate']:.3f}"
            if cfg.keypoint_metrics and summary["videos"]
            else ""
        )
        + f"; results in {cfg.output_dir}"
    )


if __name__ == "__main__":
    main()
