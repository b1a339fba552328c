"""FOMM training pairs per second: the seeking reader against whole-video decoding.

A FOMM training sample is two frames of one video. The official loader reads an mp4
by decoding every frame into one float array and then keeps two of them; the
seeking reader (``datamodules.pyav_source``) jumps to the keyframe before each
wanted frame and decodes forward only to it. This script builds 256x256 mp4s of
1000 frames (synthetic talking heads, H.264 with the video writer's settings:
libx264 CRF 18, its default keyframe interval of 250 frames and B-frames), cached
under ``<data dir>/benchmarks/data_loading``, then times both ways of producing
float32 pairs in one process with one thread (what one DataLoader worker does).

    python benchmarks/data_loading.py                # 4 videos, 40 pairs each way
    python benchmarks/data_loading.py --pairs 200 --baseline-pairs 10
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import av
import numpy as np
import torch

from datamodules.fomm_augment import FOMMAugmentation
from datamodules.fomm_layout import list_video_items
from datamodules.pairs import FOMMPairDataset
from datamodules.synthetic_faces import random_identity
from datamodules.synthetic_videos import render_talking_head
from datamodules.training.precision import hardware_banner
from datamodules.video_io import probe_video
from datamodules.video_writer import write_video

TAICHI_AUGMENTATION = {
    "flip_param": {"horizontal_flip": True, "time_flip": True},
    "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1},
}


def build_videos(folder: Path, count: int, frames: int, size: int) -> Path:
    """Write the benchmark videos once; later runs reuse them."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        path = folder / f"bench{index}#{size}px_{frames}f.mp4"
        if path.exists():
            continue
        print(f"writing {path} ...", flush=True)
        face = random_identity(np.random.default_rng([7, index]))
        video = render_talking_head(face, np.random.default_rng([8, index]), frames, size,
                                    supersample=1)  # fmt: skip
        write_video(path, video, 25)
    return folder


def whole_video_pair(path: Path, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The official loader's way: decode all frames to a float array, then take two."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        video = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    video = video.astype(np.float32) / 255.0
    first, second = np.sort(rng.integers(0, len(video), size=2))
    return (
        torch.from_numpy(video[first].transpose(2, 0, 1).copy()),
        torch.from_numpy(video[second].transpose(2, 0, 1).copy()),
    )


def pairs_per_second(run, count: int) -> float:
    run(0)  # warm-up: first-use costs of FFmpeg and swscale
    started = time.perf_counter()
    for index in range(count):
        run(index)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_dir = Path(os.environ.get("DEEPFAKE_LAB_DATA", "data")) / "benchmarks" / "data_loading"
    parser.add_argument("--dir", type=Path, default=default_dir, help="where the videos are kept")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=40, help="pairs timed for the seeking reader")
    parser.add_argument(
        "--baseline-pairs", type=int, default=8, help="pairs timed for the baseline"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(hardware_banner("cpu"))

    folder = build_videos(args.dir, args.videos, args.frames, args.size)
    items = list_video_items(folder)[: args.videos]
    metas = [probe_video(item.path) for item in items]
    meta = metas[0]
    print(f"{len(items)} videos, {meta.width}x{meta.height}, {meta.num_frames} frames, "
          f"keyframes at {meta.keyframes}")  # fmt: skip

    shape = (args.size, args.size, 3)
    plain = FOMMPairDataset(items, metas, shape, num_repeats=10**6)
    augmented = FOMMPairDataset(items, metas, shape, num_repeats=10**6,
                                augmentation=FOMMAugmentation(**TAICHI_AUGMENTATION))  # fmt: skip
    rng = np.random.default_rng(0)
    seeking = pairs_per_second(lambda i: plain[i], args.pairs)
    seeking_aug = pairs_per_second(lambda i: augmented[i], args.pairs)
    whole = pairs_per_second(
        lambda i: whole_video_pair(items[i % len(items)].path, rng), args.baseline_pairs
    )
    print(f"seeking reader:            {seeking:8.2f} pairs/s  ({1000 / seeking:7.1f} ms a pair)")
    print(f"  + taichi augmentation:   {seeking_aug:8.2f} pairs/s  ({1000 / seeking_aug:7.1f} ms)")
    print(f"whole-video decode:        {whole:8.2f} pairs/s  ({1000 / whole:7.1f} ms a pair)")
    print(f"ratio (seeking / whole):   {seeking / whole:8.1f}x")


if __name__ == "__main__":
    main()
