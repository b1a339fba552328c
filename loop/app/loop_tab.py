"""The Loop tab: a loop run's report folder (``make run``) without opening files by hand."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pandas as pd

from loop.app.inputs import page_errors
from loop.app.settings import AppSettings
from loop.app.weights import NO_WEIGHTS_HINT, loop_runs
from loop.report import MEANINGS


def report_runs(settings: AppSettings) -> list[str]:
    """The loop runs that wrote a report or their numbers, newest first."""
    return [
        run.name
        for run in loop_runs(settings.runs_dir)
        if (run / "report.md").is_file() or (run / "metrics.json").is_file()
    ]


def _metrics_table(metrics: dict) -> pd.DataFrame:
    rows = []
    for key, value in metrics.items():
        if key == "seconds":
            continue
        shown = (
            "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else value
        )
        rows.append({"metric": key, "value": shown, "meaning": MEANINGS.get(key, "")})
    return pd.DataFrame(rows, columns=["metric", "value", "meaning"])


def show_run(
    settings: AppSettings, run_name: str | None
) -> tuple[str, pd.DataFrame, list[tuple[str, str]], str | None, str | None, str]:
    """One run's report: summary, metrics, plots, sample animation, side by side, report.md.

    Raises:
        gradio.Error: no run of that name under the runs folder.
    """
    if not run_name:
        return (
            f"No loop report under `{settings.runs_dir}` yet. {NO_WEIGHTS_HINT}.",
            _metrics_table({}),
            [],
            None,
            None,
            "",
        )
    run = Path(settings.runs_dir) / os.path.basename(str(run_name))
    if not run.is_dir():
        raise gr.Error(f"No loop run {run_name} under {settings.runs_dir}.", print_exception=False)
    metrics_file = run / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    seconds = metrics.get("seconds", {})
    minutes = f", {sum(seconds.values()) / 60:.1f} min in all" if seconds else ""
    summary = f"Loop run `{run}`{minutes}."
    if not metrics_file.is_file():
        summary += " It has no `metrics.json` yet: the run did not finish."
    plots = [
        (str(plot), f"{plot.parent.name}: {plot.stem}")
        for plot in sorted((run / "studies").glob("*/*.png"))
    ]
    animation = run / "animation.mp4"
    comparison = run / "animation.side_by_side.mp4"
    report = run / "report.md"
    return (
        summary,
        _metrics_table(metrics),
        plots,
        str(animation) if animation.is_file() else None,
        str(comparison) if comparison.is_file() else None,
        report.read_text() if report.is_file() else "",
    )


def build_loop_tab(settings: AppSettings) -> tuple[gr.Dropdown, Callable[..., tuple], list]:
    """The tab's components (inside a ``gr.Blocks``).

    Returns:
        The run dropdown, its handler and its outputs, for the page to show the newest
        run when it loads.
    """
    runs = report_runs(settings)
    with gr.Row():
        run = gr.Dropdown(runs, value=runs[0] if runs else None, label="Loop run (newest first)")
        refresh = gr.Button("Refresh", scale=0)
    summary = gr.Markdown(elem_id="loop-summary")
    metrics = gr.Dataframe(label="metrics.json", elem_id="loop-metrics")
    with gr.Row():
        animation = gr.Video(label="Sample deepfake (animation.mp4)", elem_id="loop-animation")
        comparison = gr.Video(label="Source | driving | result")
    plots = gr.Gallery(
        label="The studies' plots",
        elem_id="loop-plots",
        columns=3,
        height=480,
        object_fit="contain",
    )
    with gr.Accordion("report.md", open=False):
        report = gr.Markdown()

    @page_errors
    def on_show(name: str | None) -> tuple:
        return show_run(settings, name)

    outputs = [summary, metrics, plots, animation, comparison, report]
    run.change(on_show, run, outputs, api_name="loop_run")

    def on_refresh() -> dict:
        names = report_runs(settings)
        return gr.update(choices=names, value=names[0] if names else None)

    refresh.click(on_refresh, None, run, api_visibility="private")
    return run, on_show, outputs
