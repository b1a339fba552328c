"""The reading side of ``fakedetect.predict``: the previous frame reader against the new one.

All in one run, on the same clips, variants interleaved so they see the same machine load:

1. Reading the 32 sampled frames of each video: seconds, frames the decoder produced and
   seeks per video, for

   - ``per-frame seek``: every sampled frame seeks to its keyframe and decodes forward
     (how the issue describes the old cost; reproduced here for comparison only),
   - ``previous``: the reader before the forward-pass change: one pass decoding every
     frame up to the last sampled one, one thread,
   - ``new``: one pass that lets the decoder skip the unwanted non-reference frames,
   - ``new, N decode threads``: the same with FFmpeg's frame threading on every core.

   Every variant must return the same pixels as ``previous`` (checked, printed).
2. MTCNN on those frames: the 32 frames of a video in one batch against one at a time,
   and the share of frames with a face.
3. ``fakedetect.predict`` end to end (``run_prediction``: one extraction worker beside the
   scoring process, MTCNN, EfficientNetAutoAttB4 with random weights, speed only) with
   the previous and the new reader, in fp32 and bf16: seconds and CPU-seconds per video,
   frames with a face.

    python benchmarks/predict_pipeline.py [--videos DIR] [--repeats 2] [--limit N]

The original BlazeFace + EfficientNetAutoAttB4 pipeline (icpr2020dfdc) is not run: its
code and BlazeFace weights are not installed here; the old reader against the new in one
run is the comparison this script makes. On a shared machine the figures are indicative.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from datamodules import video_io
from datamodules.extraction.log import ExtractionLog
from datamodules.face_detection import MTCNNDetector
from datamodules.pyav_source import PyAVSource
from datamodules.training.precision import hardware_banner
from datamodules.video_io import sample_indices
from datamodules.video_list import list_videos
from fakedetect.nets import EfficientNetAutoAttB4
from fakedetect.predict import run_prediction, scoring_threads
from fakedetect.scoring import VideoScorer

from detect_throughput import DEFAULT_VIDEOS, cpu_seconds

FRAMES_PER_VIDEO = 32
CORES = len(os.sched_getaffinity(0))


class PreviousReader(PyAVSource):
    """The reader before the forward-pass change: every frame is decoded, none skipped."""

    def _open(self) -> None:
        super()._open()
        self._can_skip = False


class PerFrameSeekReader(PreviousReader):
    """Each wanted frame seeks to its keyframe and decodes forward from there."""

    def _must_seek(self, index: int) -> bool:
        return True


READER_CLASSES = {"previous": PreviousReader, "new": PyAVSource}
# Extraction runs in spawned worker processes, which import this script again (as
# ``__mp_main__``): the reader to use there travels in this variable.
READER_VARIABLE = "DEEPFAKE_LAB_BENCH_READER"


def use_reader(name: str) -> None:
    """Make ``open_video`` (and so the extraction) read videos with reader ``name``."""
    os.environ[READER_VARIABLE] = name
    video_io.PyAVSource = READER_CLASSES[name]


if os.environ.get(READER_VARIABLE) in READER_CLASSES:
    use_reader(os.environ[READER_VARIABLE])


def alternate(variants: dict, repeat: int) -> list:
    """The variants in order on even repeats, reversed on odd ones.

    Why: on a shared machine the load drifts; running A B C then C B A gives every
    variant the same share of early and late runs.
    """
    items = list(variants.items())
    return items[::-1] if repeat % 2 else items


def read_variants(per_frame_seek: bool) -> dict[str, tuple[type[PyAVSource], int]]:
    """Name -> (reader, decoder threads) of part 1."""
    variants = {"per-frame seek": (PerFrameSeekReader, 1)} if per_frame_seek else {}
    variants["previous"] = (PreviousReader, 1)
    variants["new"] = (PyAVSource, 1)
    variants[f"new, {CORES} decode threads"] = (PyAVSource, CORES)
    return variants


def read_once(reader: type[PyAVSource], threads: int, path: str) -> dict:
    source = reader(path, threads=threads)
    indices = sample_indices(source.meta.num_frames, FRAMES_PER_VIDEO)  # probing not timed
    start, start_cpu = time.perf_counter(), time.process_time()
    frames = source.read(indices)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    source.close()
    return {
        "wall": wall,
        "cpu": cpu,
        "decoded": source.frames_decoded,
        "seeks": source.seeks,
        "num_frames": source.meta.num_frames,
        "frames": frames,
    }


def reading(videos: pd.DataFrame, repeats: int, per_frame_seek: bool) -> dict[str, np.ndarray]:
    """Part 1; returns the sampled frames of every video (from ``previous``)."""
    variants = read_variants(per_frame_seek)
    print(f"== Reading {FRAMES_PER_VIDEO} sampled frames of each of {len(videos)} videos")
    rows, sampled = [], {}
    for video, path in zip(videos["video"], videos["path"], strict=True):
        best: dict[str, dict] = {}
        for repeat in range(repeats):  # interleaved: each repeat runs every variant once
            for name, (reader, threads) in alternate(variants, repeat):
                run = read_once(reader, threads, path)
                if name not in best or run["wall"] < best[name]["wall"]:
                    best[name] = run
        reference = best["previous"]["frames"]
        sampled[video] = reference
        for name, run in best.items():
            same = np.array_equal(run.pop("frames"), reference)
            rows.append({"video": video, "reader": name, "identical": same, **run})
    table = pd.DataFrame(rows)
    print(f"  {'reader':26s} {'s/video':>8s} {'CPU-s':>6s} {'decoded':>8s} {'seeks':>6s}  same")
    for name in variants:
        mine = table[table["reader"] == name]
        print(
            f"  {name:26s} {mine['wall'].mean():8.2f} {mine['cpu'].mean():6.2f} "
            f"{mine['decoded'].mean():8.1f} {mine['seeks'].mean():6.1f}  "
            f"{'yes' if mine['identical'].all() else 'NO'}"
        )
    frames = table.drop_duplicates("video")["num_frames"].mean()
    print(f"  (mean over videos of the best of {repeats}; videos hold {frames:.0f} frames)")
    return sampled


def detection(sampled: dict[str, np.ndarray], repeats: int) -> None:
    """Part 2: MTCNN over a batch of 32 frames against one frame at a time."""
    print("== MTCNN on the sampled frames: one batch per video against one frame at a time")
    detector = MTCNNDetector(device="cpu")
    found = {}
    for batch_size in (FRAMES_PER_VIDEO, 1):
        detector.batch_size = batch_size
        seconds, with_face = [], 0
        for frames in sampled.values():
            walls = []
            for _ in range(repeats):
                start = time.perf_counter()
                faces = detector.detect(frames)
                walls.append(time.perf_counter() - start)
            seconds.append(min(walls))
            with_face += sum(1 for f in faces if f)
        total = sum(len(f) for f in sampled.values())
        found[batch_size] = with_face
        print(
            f"  batch {batch_size:2d}: {np.mean(seconds):.2f} s/video, faces in "
            f"{100 * with_face / total:.1f}% of frames ({with_face}/{total})"
        )


def end_to_end(videos: pd.DataFrame, repeats: int, precisions: list[str], workers: int) -> None:
    """Part 3: run_prediction with each reader and precision, interleaved."""
    count = len(videos)
    print(f"== fakedetect.predict on {count} videos, {workers} extraction worker(s), MTCNN")
    torch.manual_seed(0)
    weights = EfficientNetAutoAttB4(pretrained=False).state_dict()
    scorers = {}
    for precision in precisions:
        net = EfficientNetAutoAttB4(pretrained=False)
        net.load_state_dict(weights)
        scorers[precision] = VideoScorer(
            {"EfficientNetAutoAttB4": net},
            detector={"_target_": "datamodules.face_detection.MTCNNDetector", "device": "cpu"},
            precision=precision,
        )
    setups = {
        "previous reader": ("previous", 1),
        "new reader": ("new", 1),
        f"new reader, {CORES} decode threads": ("new", CORES),
    }
    runs: dict[tuple[str, str], list[dict]] = {}
    threads = scoring_threads(workers)
    for repeat in range(repeats):
        for precision in precisions:
            for setup, (reader, decode_threads) in alternate(setups, repeat):
                use_reader(reader)
                torch.set_num_threads(threads)
                with tempfile.TemporaryDirectory() as out:
                    start, start_cpu = time.perf_counter(), cpu_seconds()
                    run_prediction(
                        scorers[precision], videos, out, workers=workers,
                        decode_threads=decode_threads, progress=False, show_table=False,
                    )  # fmt: skip
                    wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
                    status = ExtractionLog.read_status(Path(out) / "faces")
                runs.setdefault((precision, setup), []).append(
                    {
                        "wall": wall / count,
                        "cpu": cpu / count,
                        "faces": int(status["frames_with_face"].sum()),
                        "sampled": int(status["frames_sampled"].sum()),
                    }
                )
    use_reader("new")
    for precision in precisions:
        walls = {}
        for setup in setups:
            results = runs[(precision, setup)]
            walls[setup] = min(r["wall"] for r in results)
            faces, sampled = results[0]["faces"], results[0]["sampled"]
            print(
                f"  {precision} ({scorers[precision].dtype}), {setup}: {walls[setup]:.2f} s/video, "
                f"{min(r['cpu'] for r in results):.2f} CPU-s/video, "
                f"faces in {100 * faces / sampled:.1f}% of frames ({faces}/{sampled})"
            )
        previous = walls.pop("previous reader")
        print(
            f"  {precision}: speed-up over the previous reader "
            + ", ".join(f"{setup} {previous / wall:.2f}x" for setup, wall in walls.items())
        )
    print(f"  (best of {repeats}; scoring process on {threads} thread(s))")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder of videos")
    parser.add_argument("--repeats", type=int, default=2, help="runs per figure (best is kept)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N videos only")
    parser.add_argument("--precisions", default="fp32,bf16", help="end-to-end network precisions")
    parser.add_argument("--workers", type=int, default=1, help="extraction processes")
    parser.add_argument(
        "--per-frame-seek", action="store_true", help="also time a seek per frame (slow)"
    )
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    print(hardware_banner("cpu"))
    if not args.videos.is_dir():
        print(f"No video folder at {args.videos}; pass --videos DIR")
        return
    videos = list_videos(args.videos).head(args.limit)
    sampled = reading(videos, args.repeats, args.per_frame_seek)
    if not args.skip_detection:
        detection(sampled, args.repeats)
    if not args.skip_pipeline:
        end_to_end(videos, args.repeats, args.precisions.split(","), args.workers)


if __name__ == "__main__":
    main()
