r"""Generate a deepfake dataset: ``python -m loop.fakes checkpoint=... videos=... output=...``.

Example::

    python -m loop.fakes checkpoint=logs/train/runs/<run>/checkpoints/last.ckpt \\
        videos=data/embedded output=data/fomm_fakes

What it writes and how it resumes: :mod:`loop.fakes.generate`; its options:
``conf/fakes.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from datamodules.command_errors import exit_on_input_error
from datamodules.shards import Shard
from loop.fakes.generate import generate_from_config
from loop.fakes.output import SUMMARY_FILE
from loop.fakes.plan import SPLITS
from loop.fakes.shards import merge_fakes


@hydra.main(version_base="1.3", config_path="../../conf", config_name="fakes")
@exit_on_input_error
def main(cfg: DictConfig) -> None:
    """``python -m loop.fakes checkpoint=... videos=... output=...``.

    ``shard=i num_shards=n`` renders one part; ``output=... num_shards=n merge=true``
    joins the parts' tables afterwards.
    """
    if cfg.get("merge"):
        labels = merge_fakes(cfg.output, cfg.num_shards)
        summary_file = SUMMARY_FILE
    else:
        labels = generate_from_config(cfg)
        summary_file = Shard(cfg.shard, cfg.num_shards).file(SUMMARY_FILE)
    counts = labels.groupby(["split", "label"]).size()
    parts = [
        f"{split} {counts.get((split, 0), 0)} real + {counts.get((split, 1), 0)} fake"
        for split in SPLITS
    ]
    print(f"{cfg.output}: {'; '.join(parts)} (details in {Path(cfg.output) / summary_file})")


if __name__ == "__main__":
    main()
