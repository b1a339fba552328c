"""``python -m datamodules.extraction videos=PATH output=DIR``: extract the faces of videos.

What it writes and how it resumes: :mod:`datamodules.extraction.extract`; its options:
``conf/extract.yaml``.
"""

from __future__ import annotations

import inspect

import hydra
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_user_error
from datamodules.extraction.crops import CropSettings
from datamodules.extraction.extract import extract_faces
from datamodules.extraction.shards import merge_extraction


@hydra.main(version_base="1.3", config_path="../../conf", config_name="extract")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """``python -m datamodules.extraction videos=PATH output=DIR [detector=haar] [...]``.

    ``shard=i num_shards=n`` extracts one part; the same command with ``merge=true``
    (and ``num_shards=n``) joins the parts' tables afterwards.
    """
    if not cfg.get("videos") or not cfg.get("output"):
        raise ValueError("Give videos=PATH (a video, a folder or an index CSV) and output=DIR.")
    if cfg.get("merge"):
        merge_extraction(cfg.videos, cfg.output, cfg.num_shards, root=cfg.get("root"))
        return
    crop, _ = CropSettings.split_options(cfg)
    options = {
        name: cfg[name]
        for name in inspect.signature(extract_faces).parameters
        if name in cfg and name not in ("videos", "output_dir")
    }
    extract_faces(cfg.videos, cfg.output, crop=crop, **options)


if __name__ == "__main__":
    main()
