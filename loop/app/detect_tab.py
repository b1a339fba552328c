"""The Detect tab: is an uploaded video fake? With :func:`fakedetect.predict.run_prediction`.

The upload goes through the detector's own prediction (face extraction, scoring, the
attention overlays, ``videos.csv`` and ``frames.csv``) into the request's folder; this
module only picks the weights and the face protocol, and shows what prediction wrote.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from omegaconf import OmegaConf
from scipy.special import expit

from datamodules.extraction.crops import CropSettings
from fakedetect.predict import run_prediction
from fakedetect.scoring import VideoScorer, checkpoint_specs
from loop.app.inputs import check_video, page_errors
from loop.app.samples import Samples
from loop.app.settings import AppSettings, blank, chosen_weights
from loop.app.weights import NO_WEIGHTS_HINT, FaceProtocol, loop_face_protocol, newest_checkpoint
from loop.run import CONF_DIR
from loop.studies.report import new_figure

FACE_DETECTORS = ("mtcnn", "haar", "whole_frame")
CROP_POLICIES = ("scale", "tight")


def default_detector_weights(settings: AppSettings) -> tuple[str, str, FaceProtocol]:
    """The detector used when the page names none, where it came from, and its face protocol.

    Returns:
        ``(path, description, protocol)``; ``("", hint, paper protocol)`` when there is none.
    """
    if not blank(settings.detector_checkpoint):
        given = str(settings.detector_checkpoint)
        return given, "given at start-up", FaceProtocol()
    found = newest_checkpoint(settings.runs_dir, "detector")
    if found is None:
        hint = f"no detector weights found under `{settings.runs_dir}`. {NO_WEIGHTS_HINT}."
        return "", hint, FaceProtocol()
    return str(found.path), found.describe(), loop_face_protocol(found.run)


def _calibrations(checkpoint: str, architecture: str | None) -> dict[str, Any] | None:
    """Each member's stored calibration, where this version of the detector keeps them.

    Why the guarded import: calibration (``fakedetect.calibration_store``) arrives with
    the cross-evaluation work; until then every score shown is the plain probability,
    and the page says so.
    """
    try:
        from fakedetect.calibration_store import read_calibration
    except ImportError:
        return None
    return {
        spec["name"]: read_calibration(spec["path"], False)
        for spec in checkpoint_specs(checkpoint, architecture)
    }


class LoadedScorer:
    """The last detector loaded, kept while the next request uses the same weights."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._scorer: VideoScorer | None = None

    def get(
        self, checkpoint: str, architecture: str | None, protocol: FaceProtocol, device: str
    ) -> VideoScorer:
        """A scorer for ``checkpoint`` with ``protocol``, loaded on first use."""
        key = (checkpoint, architecture, protocol, device)
        if key != self._key or self._scorer is None:
            self._scorer = None
            detector = OmegaConf.to_container(
                OmegaConf.load(CONF_DIR / "detector" / f"{protocol.detector}.yaml")
            )
            crop = CropSettings(
                frames_per_video=protocol.frames_per_video,
                policy=protocol.policy,
                size=protocol.size,
                margin=protocol.margin,
            )
            self._scorer = VideoScorer.from_checkpoints(
                checkpoint, architecture=architecture, detector=detector, crop=crop, device=device
            )
            self._key = key
        return self._scorer


_SCORER = LoadedScorer()


def verdict_text(row: pd.Series, threshold: float, detector: str, calibration_read: bool) -> str:
    """The page's verdict on one ``videos.csv`` row of :func:`fakedetect.predict.run_prediction`.

    Args:
        row: the video's row (``label``, ``score``, frame counts; ``score_calibrated`` and
            ``calibrated`` where prediction applied a stored calibration).
        threshold: the score from which the video is called fake.
        detector: the face finder used (named when no face was found).
        calibration_read: whether this version looked for stored calibrations at all.
    """
    if row["label"] == "no face":
        return (
            f"**No face found** in the {int(row['frames_sampled'])} frames sampled, so there "
            f"is no verdict. The face finder was `{detector}`: try `mtcnn` for real footage, "
            "`whole_frame` for clips that are already face crops."
        )
    calibrated = bool(row.get("calibrated", False)) and not math.isnan(
        float(row.get("score_calibrated", math.nan))
    )
    probability = float(row["score_calibrated"] if calibrated else row["score"])
    if calibrated:
        which = "calibrated probability (the map fitted on the detector's validation videos)"
    else:
        why = (
            "these weights carry no calibration"
            if calibration_read
            else "this version of the detector package stores no calibrations"
        )
        which = f"probability (uncalibrated: the sigmoid of the mean face logit; {why})"
    return (
        f"## {row['label'].upper()}\n\n"
        f"{which}: **{probability:.3f}** that the video is fake (threshold {threshold:g}); "
        f"faces scored in {int(row['frames_scored'])} of {int(row['frames_sampled'])} "
        "sampled frames."
    )


def _score_plot(frames: pd.DataFrame, threshold: float, path: Path) -> Path:
    figure, (axis,) = new_figure(1, size=2.6)
    axis.plot(frames["frame"], frames["probability"], marker="o", label="face p(fake)")
    axis.axhline(threshold, color="grey", linestyle="--", label=f"threshold {threshold:g}")
    axis.set(xlabel="frame", ylabel="p(fake)", ylim=(-0.02, 1.02), title="Score per frame")
    axis.legend(loc="upper right", fontsize="small")
    figure.savefig(path, dpi=100)
    return path


def run_detection(
    settings: AppSettings,
    video: str | os.PathLike | None,
    checkpoint: str | None = None,
    face_detector: str | None = None,
    policy: str | None = None,
    size: int | None = None,
    margin: float | None = None,
    frames_per_video: int | None = None,
    threshold: float = 0.5,
) -> tuple[str, str | None, str | None, pd.DataFrame]:
    """Score ``video``; return the verdict, the score plot, the attention video and the faces.

    Face-protocol options left None take the default weights' protocol (the loop's for
    its detector, the paper's otherwise).

    Raises:
        gradio.Error: a bad upload.
        InputError: no weights, or weights or options that cannot be used (like every
            error of the papers' functions, the page shows it through ``page_errors``).
    """
    file = check_video(video, "video", settings.max_upload_mb)
    default, origin, protocol = default_detector_weights(settings)
    checkpoint, origin = chosen_weights(checkpoint, default, origin, "No detector to score with")
    protocol = FaceProtocol(
        detector=face_detector or protocol.detector,
        policy=policy or protocol.policy,
        size=int(size or protocol.size),
        margin=protocol.margin if margin is None else float(margin),
        frames_per_video=int(frames_per_video or protocol.frames_per_video),
    )
    if protocol.detector not in FACE_DETECTORS:
        raise gr.Error(
            f"Unknown face finder {protocol.detector!r}; "
            f"choose one of {', '.join(FACE_DETECTORS)}.",
            print_exception=False,
        )
    scorer = _SCORER.get(checkpoint, settings.architecture, protocol, settings.device)
    calibrations = _calibrations(checkpoint, settings.architecture)
    folder = settings.request_dir("detect")
    videos = run_prediction(
        scorer,
        file,
        folder,
        threshold=threshold,
        workers=0,
        attention_video=True,
        progress=True,
        show_table=False,
        **({} if calibrations is None else {"calibrations": calibrations}),
    )
    row = videos.iloc[0]
    if row["label"] == "unreadable":
        raise gr.Error(
            f"The video could not be read: {row.get('message') or 'no frame decoded'}",
            print_exception=False,
        )
    frames = pd.read_csv(folder / "frames.csv")[["frame", "face_rank", "logit"]]
    frames["probability"] = expit(frames["logit"].astype(float)).round(4)
    verdict = verdict_text(row, threshold, protocol.detector, calibrations is not None)
    verdict += f"\n\nDetector: `{checkpoint}` ({origin}); faces: {protocol.describe()}."
    plot = str(_score_plot(frames, threshold, folder / "scores.png")) if len(frames) else None
    overlay = folder / "attention" / f"{row['video']}.mp4"
    if len(frames) and not overlay.is_file():
        verdict += "\n\nNo attention overlay: these weights have no attention gate."
    return verdict, plot, str(overlay) if overlay.is_file() else None, frames


def build_detect_tab(settings: AppSettings, samples: Samples) -> None:
    """The tab's components and its ``/detect`` endpoint (inside a ``gr.Blocks``)."""
    checkpoint, origin, protocol = default_detector_weights(settings)
    gr.Markdown(
        "Is this video a deepfake? Detector: "
        + (f"`{checkpoint}` ({origin})." if checkpoint else origin)
        + " Published weights (`*_DFDC.pth`, "
        "`*_FFPPc23.pth`) or a `.ckpt` trained here can be given by path."
    )
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Video", elem_id="detect-video")
            gr.Examples([[str(samples.driving)]], inputs=[video], label="Bundled sample")
            weights = gr.Textbox(
                value=checkpoint, label="Detector checkpoint (empty: the newest `make run` trained)"
            )
            with gr.Accordion("Face protocol (as the detector was trained)", open=False):
                face_detector = gr.Dropdown(
                    list(FACE_DETECTORS), value=protocol.detector, label="Face finder"
                )
                policy = gr.Dropdown(list(CROP_POLICIES), value=protocol.policy, label="Crop")
                size = gr.Number(value=protocol.size, label="Crop size", precision=0)
                margin = gr.Number(value=protocol.margin, label="Margin")
                frames_per_video = gr.Number(
                    value=protocol.frames_per_video, label="Frames sampled", precision=0
                )
                threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Threshold")
            button = gr.Button("Detect", variant="primary", elem_id="detect-button")
        with gr.Column():
            verdict = gr.Markdown(elem_id="verdict")
            plot = gr.Image(label="Score per frame", type="filepath", elem_id="score-plot")
            overlay = gr.Video(label="Attention overlay", elem_id="attention")
    faces = gr.Dataframe(label="Faces scored", elem_id="frames-table")

    @page_errors
    def on_detect(
        video: str | None,
        checkpoint: str = checkpoint,
        face_detector: str = protocol.detector,
        policy: str = protocol.policy,
        size: float = protocol.size,
        margin: float = protocol.margin,
        frames_per_video: float = protocol.frames_per_video,
        threshold: float = 0.5,
        progress: gr.Progress = gr.Progress(track_tqdm=True),
    ) -> tuple[str, str | None, str | None, pd.DataFrame]:
        return run_detection(
            settings,
            video,
            checkpoint,
            face_detector,
            policy,
            int(size) if size else None,
            margin,
            int(frames_per_video) if frames_per_video else None,
            threshold,
        )

    button.click(
        on_detect,
        inputs=[video, weights, face_detector, policy, size, margin, frames_per_video, threshold],
        outputs=[verdict, plot, overlay, faces],
        api_name="detect",
    )
