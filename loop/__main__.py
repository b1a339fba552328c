"""``python -m loop`` (what ``make run`` runs): the whole loop, its stages in :mod:`loop.run`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from loop.run import run_loop


@hydra.main(version_base="1.3", config_path="../conf", config_name="loop")
def main(cfg: DictConfig) -> None:
    """``python -m loop [pipeline=embedded|vox] [output_dir=...]``."""
    run_loop(cfg)


if __name__ == "__main__":
    main()
