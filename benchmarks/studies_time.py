"""Time the four studies on the embedded test split (8 videos, 80 frames, 64 px).

What a whole-loop pipeline (train a tiny FOMM, make fakes, train a detector, run the
studies) spends on each study, called in process as the pipeline calls them. Each study
runs once, in a fresh output folder (deleted at the end unless ``--keep``); wall and CPU
seconds are printed (on a shared machine CPU seconds are the steadier number).

Examples:
    python benchmarks/studies_time.py                                  # random tiny models
    python benchmarks/studies_time.py --fomm last.ckpt --detector best.ckpt --threads 1
    python benchmarks/studies_time.py --face-size 224 --pose-frames 80

Without ``--detector`` the detector is a random timm ``test_efficientnet`` (the tests'
tiny backbone); ``--backbone efficientnet_b0`` times a realistic CPU detector instead.
Robustness runs on the 8 real test videos and 8 fakes made here by animating each
video's frame 0 with a video of another identity (relative motion).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from datamodules.embedded import ensure_embedded_dataset  # noqa: E402
from datamodules.extraction.crops import CropSettings  # noqa: E402
from datamodules.face_detection import WholeFrameDetector  # noqa: E402
from datamodules.fomm_layout import identity_of  # noqa: E402
from datamodules.training.precision import hardware_banner  # noqa: E402
from datamodules.video_io import read_video  # noqa: E402
from datamodules.video_writer import write_video  # noqa: E402
from fakedetect.scoring import VideoScorer  # noqa: E402
from fakedetect.weights import load_detector  # noqa: E402
from fomm.inference import animate  # noqa: E402
from fomm.nets import build_networks  # noqa: E402
from loop.studies.bitrate import bitrate_study  # noqa: E402
from loop.studies.inputs import load_fomm_networks, to_tensor  # noqa: E402
from loop.studies.occlusion import occlusion_study  # noqa: E402
from loop.studies.options import StudyOptions  # noqa: E402
from loop.studies.pose import pose_study  # noqa: E402
from loop.studies.robustness import robustness_study  # noqa: E402

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def tiny_fomm() -> torch.nn.Module:
    params = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "fomm_tiny.yaml"))
    torch.manual_seed(0)
    return build_networks(params["model_params"]).eval()


def make_fakes(networks: torch.nn.Module, videos: list[Path], folder: Path) -> list[Path]:
    """Each video's frame 0 animated by the next video of another identity."""
    fakes = []
    for number, source in enumerate(videos):
        driver = next(
            v
            for v in videos[number + 1 :] + videos[:number]
            if identity_of(v.stem) != identity_of(source.stem)
        )
        frames = to_tensor(read_video(driver))
        moved = animate(
            to_tensor(read_video(source, stop=1))[0],
            frames,
            networks.kp_detector,
            networks.generator,
            batch_size=80,
        )
        fakes.append(write_video(folder / f"{source.stem}__{driver.stem}.mp4", moved, 25))
    return fakes


def timed(name: str, call, rows: list[dict]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    _, summary = call()
    rows.append(
        {
            "study": name,
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
            "items": summary["items"],
            "rows": summary["rows"],
        }
    )
    print(rows[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fomm", help="FOMM checkpoint (default: random fomm_tiny)")
    parser.add_argument("--detector", help="detector checkpoint (default: random tiny)")
    parser.add_argument("--backbone", default="test_efficientnet", help="random detector's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--face-size", type=int, default=224, help="detector input side")
    parser.add_argument("--pose-frames", type=int, default=32, help="max_frames of pose")
    parser.add_argument("--data", help="where the embedded dataset is (generated if absent)")
    parser.add_argument("--keep", action="store_true", help="keep the outputs (else deleted)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(hardware_banner("cpu"))
    work = Path(tempfile.mkdtemp(prefix="studies_time_"))
    data = ensure_embedded_dataset(Path(args.data) if args.data else work / "embedded")
    videos = sorted((data / "test").glob("*.mp4"))
    networks = load_fomm_networks(args.fomm, device="cpu") if args.fomm else tiny_fomm()
    if args.detector:
        detector = load_detector(args.detector)
    else:
        torch.manual_seed(0)
        detector = hydra.utils.instantiate(
            {
                "_target_": "fakedetect.nets.EfficientNetAutoAttB4",
                "backbone": args.backbone,
                "pretrained": False,
            }
        )
    scorer = VideoScorer(
        {"detector": detector},
        detector=WholeFrameDetector(),
        crop=CropSettings(size=args.face_size),
        device="cpu",
        precision="fp32",
    )
    fakes = make_fakes(networks, videos, work / "fakes")
    index = pd.DataFrame(
        {"path": [str(p) for p in videos + fakes], "label": [0] * len(videos) + [1] * len(fakes)}
    )
    perturbations = hydra.utils.instantiate(
        OmegaConf.load(CONF_DIR / "study" / "robustness.yaml").study.perturbations
    )
    print(
        f"{len(videos)} videos x 80 frames at 64 px, {args.threads} torch thread(s), "
        f"detector input {args.face_size} px, outputs in {work}"
    )
    rows: list[dict] = []
    out = work / "out"
    timed(
        "bitrate (3 bitrates x 0.01, scored)",
        lambda: bitrate_study(
            networks,
            StudyOptions(videos, out / "bitrate", progress=False),
            bitrate_scale=0.01,
            scorer=scorer,
        ),
        rows,
    )
    timed(
        f"pose (keypoints, 3+3 pairs, {args.pose_frames} frames)",
        lambda: pose_study(
            networks,
            StudyOptions(videos, out / "pose", max_frames=args.pose_frames, progress=False),
            pose_descriptor="keypoints",
        ),
        rows,
    )
    timed(
        "occlusion",
        lambda: occlusion_study(networks, StudyOptions(videos, out / "occlusion", progress=False)),
        rows,
    )
    timed(
        "robustness (defaults, 16 videos)",
        lambda: robustness_study(
            scorer, StudyOptions(index, out / "robustness", progress=False), perturbations
        ),
        rows,
    )
    print(pd.DataFrame(rows).to_string(index=False))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
