"""Deepfake dataset generation speed: ``loop.fakes.generate_fakes`` on the embedded dataset.

The embedded talking heads (60 videos of 80 frames, 64x64, 22 identities in train/, val/
and test/; generated under ``<data dir>/embedded`` if missing) are reenacted by the tiny
FOMM of ``conf/model/fomm_tiny.yaml`` with random weights (the speed does not depend on
the weights): 60 re-encoded real videos and 60 fakes. Prints videos/s and frames/s overall
and separately for the re-encoding of real videos and the animation of fakes.

    python benchmarks/fomm_fakes.py
    python benchmarks/fomm_fakes.py --threads 1 --batch-size 16
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from datamodules.embedded import ensure_embedded_dataset
from datamodules.training.precision import hardware_banner
from fomm.nets import build_networks
from loop.fakes import generate as fakes

ROOT = Path(__file__).resolve().parents[1]


def tiny_checkpoint(folder: Path, size: int = 64) -> tuple[Path, Path]:
    """The tiny config's networks, randomly initialised, as an official checkpoint + yaml."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=fomm_tiny"])
    params = OmegaConf.to_container(cfg.model.model_params)
    torch.manual_seed(0)
    networks = build_networks(params)
    names = ("kp_detector", "generator", "discriminator")
    states = {name: getattr(networks, name).state_dict() for name in names}
    checkpoint, config = folder / "tiny-cpk.pth.tar", folder / "tiny.yaml"
    torch.save(states, checkpoint)
    layout = {"dataset_params": {"frame_shape": [size, size, 3]}, "model_params": params}
    config.write_text(yaml.safe_dump(layout))
    return checkpoint, config


def timed(kind: str, method, totals: dict) -> callable:
    """Wrap a renderer method to add its wall time and frames to ``totals[kind]``."""

    def run(self, job, target):
        started = time.perf_counter()
        frames = method(self, job, target)
        totals[kind]["seconds"] += time.perf_counter() - started
        totals[kind]["frames"] += frames
        totals[kind]["videos"] += 1
        return frames

    return run


def main() -> None:
    """Generate once into a temporary folder and print the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("DEEPFAKE_LAB_DATA", ROOT / "data"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(hardware_banner(args.device))
    videos = ensure_embedded_dataset(Path(args.data_dir) / "embedded")
    totals: dict = defaultdict(lambda: {"seconds": 0.0, "frames": 0, "videos": 0})
    fakes.Renderer.real = timed("real", fakes.Renderer.real, totals)
    fakes.Renderer.fake = timed("fake", fakes.Renderer.fake, totals)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint, config = tiny_checkpoint(Path(folder))
        started = time.perf_counter()
        labels = fakes.generate_fakes(
            checkpoint,
            videos,
            Path(folder) / "out",
            config=config,
            batch_size=args.batch_size,
            device=args.device,
            progress=False,
        )
        seconds = time.perf_counter() - started
    frames = sum(part["frames"] for part in totals.values())
    print(f"torch threads {torch.get_num_threads()}, device {args.device}, batch {args.batch_size}")
    print(
        f"all: {len(labels)} videos, {frames} frames in {seconds:.1f} s "
        f"(model load and probing included): {len(labels) / seconds:.2f} videos/s, "
        f"{frames / seconds:.0f} frames/s"
    )
    for kind, part in totals.items():
        print(
            f"{kind}: {part['videos']} videos, {part['frames']} frames in {part['seconds']:.1f} s: "
            f"{part['videos'] / part['seconds']:.2f} videos/s, "
            f"{part['frames'] / part['seconds']:.0f} frames/s"
        )


if __name__ == "__main__":
    main()
