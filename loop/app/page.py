"""The page: the Animate, Detect and Loop tabs in one ``gr.Blocks``."""

from __future__ import annotations

import gradio as gr

from loop.app.animate_tab import build_animate_tab
from loop.app.detect_tab import build_detect_tab
from loop.app.loop_tab import build_loop_tab
from loop.app.samples import ensure_samples
from loop.app.settings import AppSettings

TITLE = "deepfake-lab"


def build_app(settings: AppSettings) -> gr.Blocks:
    """Build the page (draws the samples on first use); launch it with :func:`serve`."""
    samples = ensure_samples(settings.samples_dir)
    with gr.Blocks(title=TITLE) as page:
        gr.Markdown(
            f"# {TITLE}\nAnimate a portrait with the First Order Motion Model, ask the "
            "ICPR 2020 detector whether a video is fake, and browse what `make run` measured."
        )
        with gr.Tab("Animate", id="animate"):
            build_animate_tab(settings, samples)
        with gr.Tab("Detect", id="detect"):
            build_detect_tab(settings, samples)
        with gr.Tab("Loop", id="loop"):
            run, show, outputs = build_loop_tab(settings)
        page.load(show, run, outputs, api_visibility="private")
    return page


def serve(
    settings: AppSettings, host: str = "127.0.0.1", port: int = 7860, block: bool = True
) -> gr.Blocks:
    """Serve the page on ``host:port``; with ``block=False`` return once it is up.

    Only the runs, samples and request folders are served as files, and uploads over
    ``max_upload_mb`` are refused before they reach a handler.
    """
    page = build_app(settings)
    page.queue(default_concurrency_limit=1)  # one animation or detection at a time
    page.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        allowed_paths=[str(settings.runs_dir), str(settings.samples_dir), str(settings.work_dir)],
        max_file_size=f"{settings.max_upload_mb:g}mb",
        show_error=True,
        footer_links=["api"],
        quiet=not block,
    )
    return page
