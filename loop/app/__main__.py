"""``python -m loop.app`` (``make app``): the web page on 127.0.0.1, port ``APP_PORT`` (7860)."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from loop.app.settings import AppSettings


@hydra.main(version_base="1.3", config_path="../../conf", config_name="app")
def main(cfg: DictConfig) -> None:
    """``python -m loop.app [fomm_checkpoint=...] [detector_checkpoint=...] [port=...]``."""
    from loop.app.page import serve  # gradio: imported once the config is known to be good

    settings = AppSettings(
        runs_dir=Path(cfg.runs_dir),
        work_dir=Path(cfg.work_dir),
        samples_dir=Path(cfg.samples_dir),
        fomm_checkpoint=cfg.fomm_checkpoint,
        fomm_config=cfg.fomm_config,
        detector_checkpoint=cfg.detector_checkpoint,
        architecture=cfg.architecture,
        device=cfg.device,
        max_upload_mb=float(cfg.max_upload_mb),
    )
    print(f"deepfake-lab app on http://{cfg.host}:{cfg.port} (outputs in {settings.work_dir})")
    serve(settings, cfg.host, int(cfg.port))


if __name__ == "__main__":
    main()
