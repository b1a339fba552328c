r"""Animate a source image with a driving video: ``python -m fomm.animate``.

Example::

    python -m fomm.animate source_image=face.png driving_video=talk.mp4 output=out.mp4 \\
        checkpoint=vox-cpk.pth.tar config=vox-256.yaml find_best_frame=true

The result is an H.264 mp4 with the driving video's frame count, exact frame rate and
audio. Defaults follow the official ``demo.py`` run as its README shows
(``--relative --adapt_scale``): relative keypoint motion, movement scale adapted to the
source's keypoint spread, and relative Jacobians (``demo.py`` ties those to
``--relative``; here ``relative_jacobian`` is its own switch, a no-op for models
without Jacobians).

``find_best_frame`` picks the driving frame whose face pose (MTCNN's five landmarks) is
closest to the source's and measures the motion from it. The official demo then
animates forward from that frame and backward to the start and stitches the two; each
output frame depends only on its own driving frame and the best frame, so one pass in
frame order with the best frame as the reference gives exactly the stitched result, and
that is what runs here (:class:`fomm.inference.Animator`), batch by batch.

The same command animates with a Thin-Plate-Spline Motion Model checkpoint (official or
trained here): ``mode=relative|standard|avd`` names the motion for both models
(:mod:`fomm.animators`; FOMM's ``relative=false`` is ``mode=standard``). ``backend=onnx``
runs either model's exported graphs in onnxruntime (:mod:`fomm.onnx_export.runtime`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from datamodules.command_errors import InputError, exit_on_input_error
from datamodules.devices import resolve_device
from datamodules.face_detection import FaceDetector, MTCNNDetector
from datamodules.video_writer import VideoWriter
from fomm.animators import make_animator, resolve_mode
from fomm.crop import check_crop_options, crop_image
from fomm.driving import load_driving_frames, search_best_frame
from fomm.media import (
    FIT_MODES,
    autocast_dtype,
    fit_frame,
    load_image,
    load_model,
    model_frame_size,
    to_tensor,
    warn_if_not_square,
)
from fomm.onnx_export.runtime import animation_backend
from fomm.visualize import points_of

log = logging.getLogger(__name__)


@dataclass
class AnimationResult:
    """What :func:`animate_files` wrote and found.

    Attributes:
        output: the animated mp4.
        side_by_side: the ``source | driving | result`` mp4, if requested.
        num_frames: frames written (the driving video's count).
        fps: frame rate written (the driving video's).
        size: side of the model's square frames.
        best_frame: the driving frame the motion was measured from.
        pose_distances: ``(T,)`` landmark pose distance of each driving frame to the
            source (``find_best_frame`` only; inf where no face).
        driving_crop_box: ``(left, top, side)`` of the driving face crop (first frame).
        kp_source: ``(K, 2)`` keypoints of the source, in [-1, 1] (x, y).
        kp_driving: ``(T, K, 2)`` keypoints detected in the driving frames.
        kp_animated: ``(T, K, 2)`` keypoints the generator was given (after relative
            motion and scale adaptation), for jitter and drift studies.
        seconds: wall time of the whole call.
    """

    output: Path
    side_by_side: Path | None
    num_frames: int
    fps: Fraction
    size: int
    best_frame: int
    pose_distances: np.ndarray | None
    driving_crop_box: tuple[int, int, int] | None
    kp_source: np.ndarray
    kp_driving: np.ndarray
    kp_animated: np.ndarray
    seconds: float


def side_by_side_path(output: Path) -> Path:
    """Where the comparison video goes: ``out.mp4`` -> ``out.side_by_side.mp4``."""
    return output.with_name(f"{output.stem}.side_by_side{output.suffix}")


def animate_files(
    source_image: str | os.PathLike,
    driving_video: str | os.PathLike,
    output: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    config: str | os.PathLike | None = None,
    relative: bool = True,
    adapt_scale: bool = True,
    relative_jacobian: bool = True,
    mode: str | None = None,
    find_best_frame: bool = False,
    best_frame: int | None = None,
    fit: str = "center_crop",
    crop_source: bool = False,
    crop_driving: bool = False,
    crop_margin: float = 0.1,
    crop_source_margin: float = 0.3,
    crop_mode: str = "fixed",
    size: int | None = None,
    side_by_side: bool = False,
    batch_size: int = 16,
    device: str = "auto",
    precision: str = "fp32",
    crf: int = 18,
    progress: bool = True,
    trust_checkpoint: bool = False,
    networks: torch.nn.Module | None = None,
    detector: FaceDetector | None = None,
    backend: str = "torch",
) -> AnimationResult:
    """Animate one image with one video and write the mp4 (see the module docstring).

    Args:
        source_image: the image to animate (any size; fitted or face-cropped).
        driving_video: the motion (mp4/mov/..., gif or frame folder); its audio is kept.
        output: the mp4 to write.
        checkpoint: an official FOMM or TPSMM ``*.pth.tar`` (with ``config``) or a
            ``.ckpt`` trained here.
        config: the official yaml of an official checkpoint.
        relative: transfer keypoint displacements (else absolute driving keypoints).
        adapt_scale: scale the relative motion by the keypoint-hull size ratio (both models).
        relative_jacobian: transfer the Jacobians' change (with ``relative``).
        mode: ``relative``, ``standard`` or ``avd`` (TPSMM's AVD network) for either
            model; None follows ``relative`` (see :mod:`fomm.animators`).
        find_best_frame: measure motion from the driving frame posed most like the source.
        best_frame: use this driving frame as the reference instead (skips the search).
        fit: ``center_crop``, ``resize`` (the official demo) or ``pad`` for inputs that
            are not cropped.
        crop_source: crop the source to its largest face first.
        crop_driving: crop the driving video to its main face track first.
        crop_margin: face-box fraction added on each side of the driving face track's
            union box (the official ``increase``, 0.1).
        crop_source_margin: the same for the source image's single face box; larger,
            because one box lacks the head motion a track's union spans (0.3 gives
            the VoxCeleb framing, see docs/animate.md).
        crop_mode: ``fixed`` or ``follow`` (see :mod:`fomm.face_track`).
        size: the model's frame size; None reads it from the checkpoint (256 otherwise).
        side_by_side: also write ``<output>.side_by_side.mp4`` (source | driving | result).
        batch_size: driving frames per forward pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast (GPU).
        crf: libx264 quality (lower is better).
        progress: show progress bars.
        trust_checkpoint: allow a checkpoint that needs full unpickling (can run code).
        networks: an already loaded model (skips ``checkpoint``; for studies).
        detector: a face detector for cropping and best-frame search (default MTCNN).
        backend: ``torch``, or ``onnx`` (the networks exported and run by onnxruntime).

    Raises:
        InputError: a file or option the user gave cannot be used.
    """
    started = time.perf_counter()
    autocast = autocast_dtype(precision)
    try:
        mode = resolve_mode(mode, relative)
    except ValueError as error:
        raise InputError(str(error)) from error
    if int(batch_size) < 1:
        raise InputError(f"batch_size={batch_size} must be at least 1")
    if fit not in FIT_MODES:
        raise InputError(f"fit={fit} is not one of {', '.join(FIT_MODES)}")
    if crop_source or crop_driving:
        check_crop_options(256, crop_margin, crop_mode)
        check_crop_options(256, crop_source_margin, crop_mode)
    output = Path(str(output)) if output not in (None, "") else None
    if output is None:
        raise InputError("no output given; pass output=PATH.mp4")
    run_device = resolve_device(device)
    source_array = load_image(source_image)
    if networks is None:
        networks = load_model(checkpoint, config, run_device, trust_pickle=trust_checkpoint)
    else:
        networks = networks.to(run_device).eval()
    size = int(size or model_frame_size(networks))
    networks = animation_backend(networks, backend, size, precision)
    needs_detector = crop_source or crop_driving or (find_best_frame and best_frame is None)
    if needs_detector and detector is None:
        detector = MTCNNDetector(device=str(run_device))

    if crop_source:
        source_array = crop_image(
            source_array, detector, size, crop_source_margin, name=f"source image {source_image}"
        )
    else:
        warn_if_not_square(source_array.shape, f"source image {source_image}", fit)
        source_array = fit_frame(source_array, size, fit)
    driving, fps, crop_box = load_driving_frames(
        driving_video,
        size,
        fit,
        crop_driving,
        detector,
        crop_margin,
        crop_mode,
        batch_size,
        progress,
    )

    distances = None
    if best_frame is not None:
        if not 0 <= int(best_frame) < len(driving):
            raise InputError(
                f"best_frame={best_frame} is outside the driving video's {len(driving)} frames"
            )
        reference = int(best_frame)
    elif find_best_frame:
        reference, distances = search_best_frame(
            source_array,
            driving,
            detector,
            source_name=f"source image {source_image}",
            driving_name=f"driving video {driving_video}",
            progress=progress,
        )
        log.info("best frame: %d of %d", reference, len(driving))
    else:
        reference = 0

    try:
        animator = make_animator(
            networks,
            to_tensor(source_array[None]),
            mode=mode,
            adapt_scale=adapt_scale,
            relative_jacobian=relative_jacobian,
            autocast_dtype=autocast,
        )
    except ValueError as error:
        raise InputError(f"checkpoint {checkpoint}: {error}") from error
    animator.set_initial(to_tensor(driving[reference : reference + 1]))
    audio = Path(str(driving_video))
    audio = audio if audio.is_file() else None
    comparison = side_by_side_path(output) if side_by_side else None
    kp_driving: list[torch.Tensor] = []
    kp_animated: list[torch.Tensor] = []
    with VideoWriter(output, fps, crf=crf, audio_from=audio) as writer:
        extra = VideoWriter(comparison, fps, crf=crf, audio_from=audio) if comparison else None
        try:
            with tqdm(
                total=len(driving), desc="animating", unit="frame", disable=not progress
            ) as bar:
                for start in range(0, len(driving), batch_size):
                    batch = driving[start : start + batch_size]
                    out = animator(to_tensor(batch))
                    prediction = out["prediction"].cpu()
                    kp_driving.append(points_of(out["kp_driving"]).float().cpu())
                    kp_animated.append(points_of(out["kp_norm"]).float().cpu())
                    writer.write(prediction)
                    if extra is not None:
                        extra.write(_side_by_side(source_array, batch, prediction))
                    bar.update(len(batch))
        except BaseException:
            if extra is not None:
                extra.abort()
            raise
        if extra is not None:
            extra.close()
    seconds = time.perf_counter() - started
    log.info("%s: %d frames at %s fps in %.1f s", output, len(driving), fps, seconds)
    return AnimationResult(
        output=writer.path,
        side_by_side=comparison,
        num_frames=len(driving),
        fps=fps,
        size=size,
        best_frame=reference,
        pose_distances=distances,
        driving_crop_box=crop_box,
        kp_source=points_of(animator.kp_source)[0].float().cpu().numpy(),
        kp_driving=torch.cat(kp_driving).numpy(),
        kp_animated=torch.cat(kp_animated).numpy(),
        seconds=seconds,
    )


def _side_by_side(source: np.ndarray, driving: np.ndarray, prediction: torch.Tensor) -> np.ndarray:
    """``source | driving | result`` panels, ``(B, S, 3S, 3)`` uint8."""
    result = (prediction.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    sources = np.broadcast_to(source, driving.shape)
    return np.concatenate([sources, driving, result], axis=2)


def animate_video(cfg: DictConfig) -> AnimationResult:
    """Run :func:`animate_files` with the options of ``conf/animate.yaml``."""
    searches = cfg.find_best_frame and cfg.best_frame is None
    needs_detector = cfg.crop_source or cfg.crop_driving or searches
    detector = hydra.utils.instantiate(cfg.detector) if needs_detector else None
    return animate_files(
        source_image=cfg.source_image,
        driving_video=cfg.driving_video,
        output=cfg.output,
        checkpoint=cfg.checkpoint,
        config=cfg.config,
        relative=cfg.relative,
        adapt_scale=cfg.adapt_scale,
        relative_jacobian=cfg.relative_jacobian,
        mode=cfg.get("mode"),
        find_best_frame=cfg.find_best_frame,
        best_frame=cfg.best_frame,
        fit=cfg.fit,
        crop_source=cfg.crop_source,
        crop_driving=cfg.crop_driving,
        crop_margin=cfg.crop_margin,
        crop_source_margin=cfg.crop_source_margin,
        crop_mode=cfg.crop_mode,
        size=cfg.size,
        side_by_side=cfg.side_by_side,
        batch_size=cfg.batch_size,
        device=cfg.device,
        precision=cfg.precision,
        crf=cfg.crf,
        progress=cfg.progress,
        trust_checkpoint=cfg.trust_checkpoint,
        detector=detector,
        backend=cfg.backend,
    )


@hydra.main(version_base="1.3", config_path="../conf", config_name="animate")
@exit_on_input_error
def main(cfg: DictConfig) -> None:
    """``python -m fomm.animate source_image=... driving_video=... output=... checkpoint=...``."""
    result = animate_video(cfg)
    best = f", motion measured from driving frame {result.best_frame}" if result.best_frame else ""
    print(
        f"{result.output}: {result.num_frames} frames at {result.fps} fps, "
        f"{result.size}x{result.size}{best}, {result.seconds:.1f} s"
    )
    if result.side_by_side:
        print(f"{result.side_by_side}: source | driving | result")


if __name__ == "__main__":
    main()
