"""onnxruntime against torch on this CPU, fp32, same thread count: FOMM frames/s, detector faces/s.

1. FOMM animation at 256 px: the vox-256 networks (``conf/recipe/fomm_vox.yaml``
   ``model_params``, random weights: the speed does not depend on them) animating driving
   frames in batches through :class:`fomm.inference.Animator` (relative motion, scale
   adaptation), once with the torch networks and once with their ONNX graphs behind the
   same interface (``fomm.animate backend=onnx``). The ONNX generator encodes the source
   at every batch (the graph takes the source image), torch once per video.
2. The detector at 224 px: EfficientNetAutoAttB4 (random weights) on batches of faces:
   torch in NCHW and in channels-last (``fakedetect.predict``'s layout), and its
   ``detector.onnx`` (which also returns the attention map, a by-product of the pass).

Every rate is the best of ``--repeats`` timed passes after a warm-up. ``--quick`` runs
tiny sizes (``fomm_tiny`` at 64 px, EfficientNetAutoAttB4 on ``test_efficientnet`` at
64 px) to check that everything runs. On a machine shared with other work the numbers
are indicative only.

    python benchmarks/onnx_vs_torch.py [--threads 2] [--frames 32] [--faces 32]
    python benchmarks/onnx_vs_torch.py --quick
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch
from omegaconf import OmegaConf

from datamodules.training.precision import hardware_banner
from fakedetect.export import export_detector
from fakedetect.nets import EfficientNetAutoAttB4
from fakedetect.onnx_runtime import load_onnx_detector
from fomm.inference import Animator
from fomm.nets import build_networks
from fomm.onnx_export.runtime import onnx_networks

from bench_timing import best_time

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def fomm_params(quick: bool) -> dict:
    """vox-256's ``model_params`` (the tiny model's with ``--quick``)."""
    if quick:
        config = OmegaConf.load(CONF_DIR / "model" / "fomm_tiny.yaml")
        return OmegaConf.to_container(config.model_params)
    return OmegaConf.to_container(OmegaConf.load(CONF_DIR / "recipe" / "fomm_vox.yaml").model)[
        "model_params"
    ]


def animation_rate(networks, frames: torch.Tensor, batch_size: int, repeats: int) -> float:
    """Frames/s of animating ``frames`` with the first one as the source (and reference)."""
    animator = Animator(frames[0], networks.kp_detector, networks.generator)
    animator.set_initial(frames[0])

    def animate_all() -> None:
        for start in range(0, len(frames), batch_size):
            animator(frames[start : start + batch_size])

    return len(frames) / best_time(animate_all, repeats, 1, torch.device("cpu"))


def detector_rate(model, faces: torch.Tensor, repeats: int) -> float:
    """Faces/s of one forward pass over the batch."""

    def score() -> None:
        with torch.inference_mode():
            model(faces)

    return len(faces) / best_time(score, repeats, 1, torch.device("cpu"))


def fomm_rows(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """The animation rows: (task, runtime, frames/s)."""
    size = 64 if args.quick else 256
    torch.manual_seed(0)
    networks = build_networks(fomm_params(args.quick)).eval()
    frames = torch.rand(args.frames, 3, size, size, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    exported = onnx_networks(networks, size)
    print(f"FOMM graphs exported and loaded in {time.perf_counter() - started:.1f} s")
    task = f"FOMM animation {size} px, batch {args.batch_size}"
    return [
        (task, "torch", animation_rate(networks, frames, args.batch_size, args.repeats)),
        (task, "onnxruntime", animation_rate(exported, frames, args.batch_size, args.repeats)),
    ]


def detector_rows(args: argparse.Namespace) -> list[tuple[str, str, float]]:
    """The detector rows: (task, runtime, faces/s)."""
    size = 64 if args.quick else 224
    backbone = "test_efficientnet" if args.quick else "tf_efficientnet_b4"
    torch.manual_seed(0)
    net = EfficientNetAutoAttB4(backbone=backbone, pretrained=False).eval()
    faces = torch.randn(args.faces, 3, size, size, generator=torch.Generator().manual_seed(0))
    task = f"EfficientNetAutoAttB4 {size} px, batch {args.faces}"
    rows = [(task, "torch", detector_rate(net, faces, args.repeats))]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        export_detector(net, folder, size)
        detector = load_onnx_detector(folder)
        print(f"detector graph exported and loaded in {time.perf_counter() - started:.1f} s")
    rows.append((task, "onnxruntime", detector_rate(detector, faces, args.repeats)))
    net = net.to(memory_format=torch.channels_last)
    channels_last = faces.contiguous(memory_format=torch.channels_last)
    rows.insert(1, (task, "torch channels-last", detector_rate(net, channels_last, args.repeats)))
    return rows


def print_table(rows: list[tuple[str, str, float]]) -> None:
    """One line per row, with the ratio to the task's plain torch rate."""
    print("\n| task | runtime | rate | vs torch |\n| --- | --- | --- | --- |")
    torch_rates = {task: rate for task, runtime, rate in rows if runtime == "torch"}
    for task, runtime, rate in rows:
        unit = "frames/s" if task.startswith("FOMM") else "faces/s"
        print(f"| {task} | {runtime} | {rate:.2f} {unit} | {rate / torch_rates[task]:.2f}x |")


def main() -> None:
    """Time both tasks with both runtimes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--threads", type=int, default=None, help="threads of both runtimes")
    parser.add_argument("--frames", type=int, default=None, help="driving frames (16)")
    parser.add_argument("--batch-size", type=int, default=8, help="driving frames per pass")
    parser.add_argument("--faces", type=int, default=None, help="faces per batch (32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes (3)")
    args = parser.parse_args()
    args.frames = args.frames or (4 if args.quick else 16)
    args.faces = args.faces or (4 if args.quick else 32)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.quick:
        args.batch_size = min(args.batch_size, 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(hardware_banner("cpu"))
    print(
        f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider, {threads} intra-op "
        f"threads), torch {torch.__version__} ({threads} threads), fp32"
    )
    rows = fomm_rows(args) + detector_rows(args)
    print_table(rows)
    print("Indicative: other work on a shared machine slows single runs.")


if __name__ == "__main__":
    main()
