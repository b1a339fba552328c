"""Throughput of the deepfake detector: networks in faces/s, the whole predict pipeline in videos/s.

1. EfficientNetB4 and EfficientNetAutoAttB4 at 224 px on random weights (no download), batch
   of 32 faces: fp32, fp32 + channels_last, bf16 autocast + channels_last.
2. ``fakedetect.predict`` end to end (32 frames per video, MTCNN, EfficientNetAutoAttB4) on
   a folder of real videos, two set-ups interleaved so both see the same machine load:
   ours (an extraction worker decoding and detecting while this process scores in bf16
   channels-last where bf16 is fast) and a reference (everything sequential in one process,
   fp32, NCHW, as the original pipeline ran its network). Seconds and CPU-seconds per
   video, the share of sampled frames with a face, and the time split (decode, detect,
   network) of ours from a sequential pass over the same videos.

The paper's budget: 4000 videos in 9 hours on one P100, 8.1 s a video end to end.

    python benchmarks/detect_throughput.py [--videos DIR] [--repeats 3] [--precision auto]

Every figure is the best of ``--repeats`` runs (other work on the machine slows single runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from datamodules.extraction.crops import CropSettings, crop_face
from datamodules.extraction.log import ExtractionLog
from datamodules.face_detection import MTCNNDetector
from datamodules.training.precision import bf16_is_fast, hardware_banner
from datamodules.video_io import open_video, sample_indices
from datamodules.video_list import list_videos
from fakedetect.nets import EfficientNetAutoAttB4, EfficientNetB4
from fakedetect.predict import run_prediction, scoring_threads
from fakedetect.scoring import VideoScorer

from bench_timing import inference_fn

DEFAULT_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "detect"
PAPER_SECONDS_PER_VIDEO = 9 * 3600 / 4000


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best_of(repeats: int, run) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeats`` calls.

    Why both: on a machine shared with other jobs the wall time depends on the load;
    the CPU time of this process much less.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def network_throughput(repeats: int, batch: int, size: int) -> None:
    print(f"== Networks: faces/s at {size} px, batch {batch}, {torch.get_num_threads()} threads")
    images = torch.randn(batch, 3, size, size)
    modes = {
        "fp32": (torch.contiguous_format, None),
        "fp32 channels_last": (torch.channels_last, None),
        "bf16 autocast channels_last": (torch.channels_last, torch.bfloat16),
    }
    for net_class in (EfficientNetB4, EfficientNetAutoAttB4):
        net = net_class(pretrained=False).eval()
        for mode, (memory, dtype) in modes.items():
            model = net.to(memory_format=memory)
            run = inference_fn(model, images.contiguous(memory_format=memory), dtype)
            run()  # warm-up (oneDNN kernel selection)
            seconds, cpu = best_of(repeats, run)
            print(
                f"  {net_class.__name__:22s} {mode:28s} {batch / seconds:7.1f} faces/s "
                f"({batch / cpu:5.1f} faces per CPU-second)"
            )


def time_split(
    videos: pd.DataFrame, scorer: VideoScorer, settings: CropSettings
) -> dict[str, float]:
    """Seconds spent decoding, detecting (with cropping) and in the network, sequentially."""
    totals = {"decode": 0.0, "detect": 0.0, "network": 0.0}
    for path in videos["path"]:
        start = time.perf_counter()
        with open_video(path) as source:
            indices = sample_indices(source.meta.num_frames, settings.frames_per_video)
            frames = source.read(indices)
        decoded = time.perf_counter()
        faces = scorer.detector.detect(frames)
        crops = [
            crop_face(frame, found[0].box, settings.policy, settings.size, settings.margin)
            for frame, found in zip(frames, faces, strict=True)
            if found
        ]
        detected = time.perf_counter()
        if crops:
            scorer.score_crops(crops)
        totals["decode"] += decoded - start
        totals["detect"] += detected - decoded
        totals["network"] += time.perf_counter() - detected
    return totals


def _end_to_end(scorer: VideoScorer, videos: pd.DataFrame, workers: int, threads: int) -> dict:
    """One predict run into a temporary folder: wall and CPU seconds, face-found rate."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as out:
        start, start_cpu = time.perf_counter(), cpu_seconds()
        run_prediction(scorer, videos, out, workers=workers, progress=False, show_table=False)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
        status = ExtractionLog.read_status(Path(out) / "faces")
    found = status["frames_with_face"].sum() / status["frames_sampled"].sum()
    return {"wall": wall, "cpu": cpu, "found": found}


def pipeline_throughput(folder: Path, repeats: int, precision: str, workers: int) -> None:
    if not folder.is_dir():
        print(f"== Pipeline: skipped, no video folder at {folder} (pass --videos DIR)")
        return
    videos = list_videos(folder)
    count = len(videos)
    all_threads = torch.get_num_threads()
    print(f"== Pipeline: predict on {count} videos of {folder}, 32 frames per video, MTCNN")
    torch.manual_seed(0)
    weights = EfficientNetAutoAttB4(pretrained=False).state_dict()
    setups = {
        f"ours: {workers} extraction worker(s) beside scoring, {precision}, channels_last": (
            dict(precision=precision, channels_last=True),
            workers,
            scoring_threads(workers),
        ),
        "reference: sequential, fp32, NCHW": (
            dict(precision="fp32", channels_last=False),
            0,
            all_threads,
        ),
    }
    scorers = {}
    for name, (options, _, _) in setups.items():
        net = EfficientNetAutoAttB4(pretrained=False)
        net.load_state_dict(weights)
        scorers[name] = VideoScorer(
            {"EfficientNetAutoAttB4": net}, detector=MTCNNDetector(device="cpu"), **options
        )
    runs: dict[str, list[dict]] = {name: [] for name in setups}
    for _ in range(repeats):  # interleaved, so both see the same load
        for name, (_, setup_workers, threads) in setups.items():
            runs[name].append(_end_to_end(scorers[name], videos, setup_workers, threads))
    for name, results in runs.items():
        wall = min(r["wall"] for r in results) / count
        cpu = min(r["cpu"] for r in results) / count
        print(f"  {name} ({scorers[name].dtype}, {setups[name][2]} scoring thread(s)):")
        print(
            f"    {wall:.2f} s/video, {1 / wall:.3f} videos/s, {cpu:.2f} CPU-s/video; "
            f"faces in {100 * min(r['found'] for r in results):.1f}% of sampled frames"
        )
    print(
        f"  (best of {repeats}; paper budget {PAPER_SECONDS_PER_VIDEO:.1f} s/video; "
        f"bf16 fast on this CPU: {bf16_is_fast(torch.device('cpu'))})"
    )
    ours = scorers[next(iter(setups))]
    torch.set_num_threads(all_threads)
    split = min(
        (time_split(videos, ours, ours.settings) for _ in range(min(repeats, 2))),
        key=lambda t: sum(t.values()),
    )
    print(
        f"  sequential split per video, ours ({all_threads} threads): "
        + ", ".join(f"{name} {seconds / count:.2f} s" for name, seconds in split.items())
        + f" (total {sum(split.values()) / count:.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of real videos")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best is kept)")
    parser.add_argument("--batch", type=int, default=32, help="faces per forward pass")
    parser.add_argument("--precision", default="auto", help="pipeline network: fp32, bf16, auto")
    parser.add_argument("--workers", type=int, default=1, help="extraction processes")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--skip-networks", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(hardware_banner("cpu"))
    print(f"CUDA: {torch.cuda.is_available()}")
    if not args.skip_networks:
        network_throughput(args.repeats, args.batch, 224)
    if not args.skip_pipeline:
        pipeline_throughput(args.videos, args.repeats, args.precision, args.workers)


if __name__ == "__main__":
    main()
