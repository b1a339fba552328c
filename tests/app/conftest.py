"""The app tests' world: bundled samples, a finished loop run with tiny weights, a server."""

from __future__ import annotations

import pytest
from fomm_tool_media import write_talking_video

from app_media import NO_GRADIO, RUN_NAME, free_port, write_loop_run


@pytest.fixture(scope="session")
def app_settings(tmp_path_factory):
    """Settings of an app whose runs folder holds one finished loop run."""
    pytest.importorskip("gradio", reason=NO_GRADIO)
    from loop.app.samples import ensure_samples
    from loop.app.settings import AppSettings

    root = tmp_path_factory.mktemp("app")
    samples = ensure_samples(root / "samples")
    write_loop_run(root / "runs", RUN_NAME, samples.driving)
    return AppSettings(
        runs_dir=root / "runs",
        work_dir=root / "work",
        samples_dir=root / "samples",
        device="cpu",
        max_upload_mb=5,
    )


@pytest.fixture(scope="session")
def short_driving(tmp_path_factory):
    """A 6-frame 64 px talking face with a sound track: quick to animate."""
    folder = tmp_path_factory.mktemp("app_media")
    return write_talking_video(folder / "short.mp4", num_frames=6, size=64, audio=True)


@pytest.fixture(scope="session")
def served_app(app_settings):
    """The app served on 127.0.0.1 for the whole session; yields its URL."""
    from loop.app.page import serve

    port = free_port()
    page = serve(app_settings, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    page.close()
