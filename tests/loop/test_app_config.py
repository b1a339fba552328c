"""conf/app.yaml: local only, the port from APP_PORT, default weights from the loop's runs."""

import pytest


@pytest.mark.parametrize(("env", "port"), [(None, 7860), ("8123", 8123)])
def test_the_app_serves_locally_on_app_port(make_cfg, monkeypatch, tmp_path, env, port):
    if env is None:
        monkeypatch.delenv("APP_PORT", raising=False)
    else:
        monkeypatch.setenv("APP_PORT", env)
    cfg = make_cfg(config_name="app")
    assert cfg.host == "127.0.0.1"
    assert int(cfg.port) == port
    assert cfg.runs_dir == str(tmp_path / "logs" / "loop" / "runs")
    assert cfg.fomm_checkpoint is None and cfg.detector_checkpoint is None
