"""Tiny inputs for the study tests: talking-head videos, a random tiny FOMM or TPSMM, configs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from datamodules.embedded import write_talking_heads
from datamodules.face_detection import WholeFrameDetector
from fakedetect.scoring import VideoScorer
from fomm.nets import build_networks
from fomm.tpsmm.nets import build_tpsmm_networks
from loop.studies.inputs import load_scorer

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"


def write_videos(
    folder: Path, identities: int = 2, videos_per_identity: int = 2, frames: int = 8
) -> list[Path]:
    """Embedded-style 64 px talking heads named ``id<k>#<v>.mp4``."""
    return write_talking_heads(folder, identities, videos_per_identity, frames, size=64, seed=3)


def tiny_fomm(seed: int = 0) -> torch.nn.Module:
    """A randomly initialised FOMM of the project's tiny config (``conf/model/fomm_tiny.yaml``)."""
    torch.manual_seed(seed)
    params = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "fomm_tiny.yaml"))
    return build_networks(params["model_params"]).eval()


def tiny_tpsmm(seed: int = 0) -> torch.nn.Module:
    """A randomly initialised TPSMM of the project's tiny config (``conf/model/tpsmm_tiny.yaml``
    over ``tpsmm.yaml``): four occlusion masks, 8 to 64 px for 64 px frames."""
    torch.manual_seed(seed)
    model = CONF_DIR / "model"
    params = OmegaConf.merge(
        OmegaConf.load(model / "tpsmm.yaml").model_params,
        OmegaConf.load(model / "tpsmm_tiny.yaml").model_params,
    )
    return build_tpsmm_networks(OmegaConf.to_container(params)).eval()


def write_tiny_fomm(folder: Path, seed: int = 0) -> Path:
    """:func:`tiny_fomm` saved in the official format, with its yaml beside it (no frame size)."""
    networks = tiny_fomm(seed)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "tiny-cpk.pth.tar"
    torch.save(
        {
            name: getattr(networks, name).state_dict()
            for name in ("kp_detector", "generator", "discriminator")
        },
        checkpoint,
    )
    (folder / "tiny-cpk.yaml").write_text(yaml.safe_dump(networks.config))
    return checkpoint


def write_real_and_fake(root: Path, frames: int = 6) -> tuple[list[Path], list[Path]]:
    """Two real talking heads (``root/videos``) and two "fakes" of other people (``root/fakes``)."""
    real = write_videos(root / "videos", identities=2, videos_per_identity=1, frames=frames)
    fakes = write_talking_heads(root / "fakes", 2, 1, frames, size=64, seed=4)
    return real, [p.rename(p.with_name(f"fake_{p.name}")) for p in fakes]


def tiny_scorer(checkpoint: Path) -> VideoScorer:
    """A detector of the tests' tiny checkpoint on whole frames, 3 frames a video, 32 px."""
    return load_scorer(
        checkpoint,
        detector=WholeFrameDetector(),
        frames_per_video=3,
        size=32,
        device="cpu",
        precision="fp32",
    )


def write_index(path: Path, real: list[Path], fake: list[Path]) -> Path:
    """A video index CSV (``path`` relative to it, ``label``, ``split``)."""
    rows = [{"path": p.relative_to(path.parent).as_posix(), "label": 0} for p in real]
    rows += [{"path": p.relative_to(path.parent).as_posix(), "label": 1} for p in fake]
    table = pd.DataFrame(rows)
    table["split"] = "test"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run the tiny models on one thread: their ops are too small to gain from two, and on a
    busy machine two OpenMP threads made them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
