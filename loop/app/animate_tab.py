"""The Animate tab: a portrait driven by a video, with :func:`fomm.animate.animate_files`."""

from __future__ import annotations

import os

import gradio as gr

from datamodules.devices import resolve_device
from fomm.animators import MOTION_MODES
from loop.app.inputs import check_image, check_video, page_errors
from loop.app.models import ANIMATION_MODELS, LoadedNetworks, animation_model
from loop.app.samples import Samples
from loop.app.settings import AppSettings, blank, chosen_weights
from loop.app.weights import NO_WEIGHTS_HINT, newest_checkpoint

_NETWORKS = LoadedNetworks()


def default_animation_weights(settings: AppSettings, model_name: str) -> tuple[str, str]:
    """The checkpoint a model uses when the page names none, and where it came from.

    Returns:
        ``(path, description)``; ``("", hint)`` when there is none.
    """
    if not blank(settings.fomm_checkpoint) and model_name == ANIMATION_MODELS[0].name:
        return str(settings.fomm_checkpoint), "given at start-up"
    stage = animation_model(model_name).loop_stage
    found = newest_checkpoint(settings.runs_dir, stage) if stage else None
    if found is None:
        return "", f"no {model_name} weights found under `{settings.runs_dir}`. {NO_WEIGHTS_HINT}."
    return str(found.path), found.describe()


def run_animation(
    settings: AppSettings,
    image: str | os.PathLike | None,
    video: str | os.PathLike | None,
    model: str = ANIMATION_MODELS[0].name,
    checkpoint: str | None = None,
    config: str | None = None,
    mode: str = "relative",
    adapt_scale: bool = True,
    find_best_frame: bool = False,
    crop_source: bool = False,
    crop_driving: bool = False,
) -> tuple[str, str, str]:
    """Animate ``image`` with ``video``; return the mp4, the side-by-side mp4 and a summary.

    ``mode`` is the motion transfer of :mod:`fomm.animators` (``relative``, ``standard``
    (absolute), or ``avd`` for a TPSMM with a trained AVD network), the same for both models.

    Raises:
        gradio.Error: a bad upload.
        InputError: no weights, or weights or options that cannot be used (like every
            error of the papers' functions, the page shows it through ``page_errors``).
    """
    source = check_image(image, "portrait", settings.max_upload_mb)
    driving = check_video(video, "driving video", settings.max_upload_mb)
    entry = animation_model(model)
    checkpoint, origin = chosen_weights(
        checkpoint,
        *default_animation_weights(settings, model),
        f"No {model} weights to animate with",
    )
    if blank(config) and checkpoint == str(settings.fomm_checkpoint):
        config = settings.fomm_config
    config = None if blank(config) else str(config).strip()
    device = resolve_device(settings.device)
    networks = _NETWORKS.get(entry, checkpoint, config, str(device))
    folder = settings.request_dir("animate")
    result = entry.animate(
        source,
        driving,
        folder / "animation.mp4",
        networks=networks,
        mode=mode,
        adapt_scale=adapt_scale,
        find_best_frame=find_best_frame,
        crop_source=crop_source,
        crop_driving=crop_driving,
        side_by_side=True,
        device=str(device),
        progress=True,
    )
    best = f", motion measured from driving frame {result.best_frame}" if find_best_frame else ""
    summary = (
        f"{result.num_frames} frames at {float(result.fps):.2f} fps, "
        f"{result.size}x{result.size}{best}, {mode} motion, in {result.seconds:.1f} s with {model} "
        f"weights `{checkpoint}` ({origin}). The sound is the driving video's."
    )
    return str(result.output), str(result.side_by_side), summary


def build_animate_tab(settings: AppSettings, samples: Samples) -> None:
    """The tab's components and its ``/animate`` endpoint (inside a ``gr.Blocks``)."""
    default_model = ANIMATION_MODELS[0].name
    checkpoint, origin = default_animation_weights(settings, default_model)
    gr.Markdown(
        "Animate a portrait with the motion of a driving video. Weights: "
        + (f"`{checkpoint}` ({origin})." if checkpoint else origin)
        + " Other weights: "
        + "; ".join(f"{m.name}: {m.weights_help}" for m in ANIMATION_MODELS)
        + "."
    )
    with gr.Row():
        with gr.Column():
            image = gr.Image(label="Portrait", type="filepath", elem_id="portrait")
            video = gr.Video(label="Driving video", elem_id="driving")
            gr.Examples(
                [[str(samples.portrait), str(samples.driving)]],
                inputs=[image, video],
                label="Bundled samples (drawn by the project's synthetic face generator)",
            )
            model = gr.Dropdown(
                [m.name for m in ANIMATION_MODELS], value=default_model, label="Model"
            )
            weights = gr.Textbox(
                value=checkpoint,
                label="Checkpoint (empty: the newest that `make run` trained)",
            )
            config_path = settings.fomm_config or ""
            config = gr.Textbox(value=config_path, label="Config yaml (official checkpoints only)")
            with gr.Row():
                mode = gr.Dropdown(
                    list(MOTION_MODES),
                    value="relative",
                    label="Motion (relative, standard = absolute, avd = TPSMM's AVD)",
                    elem_id="motion-mode",
                )
                adapt_scale = gr.Checkbox(value=True, label="Adapt movement scale")
                best_frame = gr.Checkbox(value=False, label="Find best frame")
                crop_source = gr.Checkbox(value=False, label="Crop the portrait's face")
                crop_driving = gr.Checkbox(value=False, label="Crop the driving face")
            button = gr.Button("Animate", variant="primary", elem_id="animate-button")
        with gr.Column():
            result = gr.Video(label="Result (with the driving video's sound)", elem_id="result")
            comparison = gr.Video(label="Portrait | driving | result", elem_id="side-by-side")
            summary = gr.Markdown(elem_id="animate-summary")

    @page_errors
    def on_animate(
        image: str | None,
        video: str | None,
        model: str = default_model,
        checkpoint: str = checkpoint,
        config: str = config_path,
        mode: str = "relative",
        adapt_scale: bool = True,
        find_best_frame: bool = False,
        crop_source: bool = False,
        crop_driving: bool = False,
        progress: gr.Progress = gr.Progress(track_tqdm=True),
    ) -> tuple[str, str, str]:
        return run_animation(
            settings,
            image,
            video,
            model,
            checkpoint,
            config,
            mode,
            adapt_scale,
            find_best_frame,
            crop_source,
            crop_driving,
        )

    button.click(
        on_animate,
        inputs=[
            image,
            video,
            model,
            weights,
            config,
            mode,
            adapt_scale,
            best_frame,
            crop_source,
            crop_driving,
        ],
        outputs=[result, comparison, summary],
        api_name="animate",
    )
    model.change(
        lambda name: default_animation_weights(settings, name)[0],
        model,
        weights,
        api_visibility="private",
    )
