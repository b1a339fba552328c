"""Find the face track in a raw video and crop a square video around it.

FOMM's face models were trained on square crops with the face filling most of the
frame (VoxCeleb prepared with the official ``crop-video.py``); a raw phone or webcam
video must be cropped the same way before animating, or the keypoints land on the
background. This does it in one command::

    python -m fomm.crop video=raw.mp4 output=driving.mp4            # 256x256, audio kept
    python -m fomm.crop video=raw.mp4 output=out.mp4 size=512 margin=0.2 mode=follow

Faces are detected (MTCNN; ``detector=`` takes any :mod:`datamodules.face_detection`
detector) on every ``stride``-th frame, searched on a copy whose longer side is at most
640 pixels (as the official script); boxes are linked into tracks by IoU
(:mod:`fomm.face_track`), the most often detected face wins, and every frame is cropped
with the square box of that track and resized to ``size``. The output keeps the input's
frame count, frame rate and audio.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig
from tqdm.auto import tqdm

from datamodules.command_errors import InputError, exit_on_input_error
from datamodules.face_detection import FaceDetector, MTCNNDetector
from datamodules.video_io import FrameSource
from datamodules.video_writer import VideoWriter
from fomm.face_track import (
    CROP_MODES,
    FaceTrack,
    crop_boxes,
    link_face_tracks,
    main_track,
    square_box,
)
from fomm.media import iter_chunks, open_input_video, video_fps

log = logging.getLogger(__name__)


@dataclass
class FaceCrop:
    """What :func:`crop_video` found and wrote.

    Attributes:
        path: the cropped mp4 (None when only boxes were computed).
        boxes: ``(T, 3)`` ``(left, top, side)`` crop square of every frame, input pixels.
        track: the face that was followed.
        tracks_found: how many distinct faces (tracks) the video showed.
        num_frames: frames in the input (and the output).
        fps: the input's frame rate (kept in the output).
        frame_size: input ``(height, width)``.
    """

    path: Path | None
    boxes: np.ndarray
    track: FaceTrack
    tracks_found: int
    num_frames: int
    fps: Fraction
    frame_size: tuple[int, int]


def detect_boxes(detector: FaceDetector, frames: np.ndarray) -> list[np.ndarray]:
    """Face boxes ``(n, 4)`` (x0, y0, x1, y1, full-frame pixels) of each frame.

    The detector searches a downscaled copy of large frames itself (its ``max_size``).
    """
    return [
        np.asarray([face.box for face in faces], dtype=np.float64).reshape(-1, 4)
        for faces in detector(frames)
    ]


def find_face_track(
    source: FrameSource,
    detector: FaceDetector,
    stride: int = 1,
    iou_threshold: float = 0.25,
    max_gap: int = 2,
    link_to: str = "first",
    batch_size: int = 16,
    progress: bool = True,
) -> tuple[FaceTrack, int]:
    """Detect faces on every ``stride``-th frame and return the main face track.

    Returns:
        The track and how many tracks were found in all.

    Raises:
        InputError: no face was found in any sampled frame.
    """
    sampled = range(0, source.meta.num_frames, max(1, int(stride)))
    detections: list[tuple[int, np.ndarray]] = []
    with tqdm(total=len(sampled), desc="finding faces", unit="frame", disable=not progress) as bar:
        for indices, frames in iter_chunks(source, batch_size, sampled):
            detections.extend(zip(indices, detect_boxes(detector, frames), strict=True))
            bar.update(len(indices))
    tracks = link_face_tracks(detections, iou_threshold, max_gap, link_to)
    track = main_track(tracks)
    if track is None:
        raise InputError(
            f"no face found in {source.path} ({len(sampled)} frames searched); pass a video "
            "showing a face, or resize/crop it yourself and animate with fit=center_crop"
        )
    return track, len(tracks)


def crop_frames(frames: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Cut the square ``(left, top, side)`` of each frame and resize it to ``size``."""
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for index, (frame, (left, top, side)) in enumerate(zip(frames, boxes, strict=True)):
        square = frame[top : top + side, left : left + side]
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
        out[index] = cv2.resize(square, (size, size), interpolation=interpolation)
    return out


def crop_image(
    image: np.ndarray,
    detector: FaceDetector,
    size: int,
    margin: float = 0.3,
    name: str = "image",
) -> np.ndarray:
    """Crop the largest face of one image to a ``size`` square (``crop_source=true``).

    The default margin is larger than a video's (0.1): a video's box is the union of
    the face over the clip, which already spans the head's motion; on a VoxCeleb-style
    clip MTCNN's box is about 63% of the frame side, which ``margin=0.3`` reproduces.

    Raises:
        InputError: no face was found.
    """
    boxes = detect_boxes(detector, image[None])[0]
    if not len(boxes):
        raise InputError(
            f"no face found in {name}; pass an image showing a face, or animate it "
            "without crop_source=true"
        )
    largest = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
    box = square_box(largest, margin, *image.shape[:2])
    return crop_frames(image[None], np.asarray([box]), size)[0]


def face_crop_boxes(
    source: FrameSource,
    detector: FaceDetector,
    margin: float = 0.1,
    mode: str = "fixed",
    smooth_sigma: float = 5.0,
    **track_options,
) -> tuple[np.ndarray, FaceTrack, int]:
    """Square crop boxes for every frame of a video around its main face.

    Args:
        source: the opened video.
        detector: the face detector.
        margin: fraction of the face size added on each side.
        mode: ``fixed`` or ``follow`` (see :mod:`fomm.face_track`).
        smooth_sigma: Gaussian smoothing of the ``follow`` centre, in frames.
        **track_options: passed to :func:`find_face_track`.

    Returns:
        ``(T, 3)`` boxes, the track, and the number of tracks found.
    """
    track_options.setdefault("link_to", "first" if mode == "fixed" else "last")
    track, tracks_found = find_face_track(source, detector, **track_options)
    meta = source.meta
    boxes = crop_boxes(track, meta.num_frames, meta.height, meta.width, margin, mode, smooth_sigma)
    return boxes, track, tracks_found


def check_crop_options(size: int, margin: float, mode: str, stride: int = 1) -> None:
    """Reject impossible crop settings with a message naming the option."""
    if mode not in CROP_MODES:
        raise InputError(f"mode={mode} is not one of {', '.join(CROP_MODES)}")
    if int(size) < 16:
        raise InputError(f"size={size} is too small; use the model's frame size, e.g. size=256")
    if not 0 <= float(margin) <= 2:
        raise InputError(f"margin={margin} must be between 0 and 2 (0.1 is the official value)")
    if int(stride) < 1:
        raise InputError(f"stride={stride} must be at least 1")


def crop_video(
    video: str | os.PathLike,
    output: str | os.PathLike | None,
    size: int = 256,
    margin: float = 0.1,
    mode: str = "fixed",
    stride: int = 1,
    iou_threshold: float = 0.25,
    max_gap: int = 2,
    smooth_sigma: float = 5.0,
    batch_size: int = 16,
    crf: int = 18,
    detector: FaceDetector | None = None,
    progress: bool = True,
) -> FaceCrop:
    """Crop the main face of a video to a square mp4 of ``size`` pixels, audio kept.

    Args:
        video: the raw video (any format :mod:`datamodules.video_io` reads).
        output: the mp4 to write; None computes the boxes only.
        size: output side in pixels.
        margin: fraction of the face box added on each side (official ``increase``).
        mode: ``fixed`` (one box for the clip, the official choice) or ``follow``.
        stride: detect faces on every ``stride``-th frame (faster on long videos).
        iou_threshold: least IoU to link a box to a track (official 0.25).
        max_gap: sampled frames a track may miss before it ends.
        smooth_sigma: ``follow`` smoothing in frames.
        batch_size: frames read and searched together.
        crf: quality of the output (libx264 constant rate factor).
        detector: the face detector; None builds MTCNN on the GPU when there is one.
        progress: show progress bars.

    Raises:
        InputError: the video is unreadable or shows no face.
    """
    check_crop_options(size, margin, mode, stride)
    if detector is None:
        detector = MTCNNDetector(device="auto")
    source = open_input_video(video, option="video")
    with source:
        boxes, track, tracks_found = face_crop_boxes(
            source,
            detector,
            margin=margin,
            mode=mode,
            smooth_sigma=smooth_sigma,
            stride=stride,
            iou_threshold=iou_threshold,
            max_gap=max_gap,
            batch_size=batch_size,
            progress=progress,
        )
        fps = video_fps(source)
        meta = source.meta
        log.info(
            "%s: %d face track(s); following frames %d-%d (%d detections), box %s",
            source.path,
            tracks_found,
            track.start,
            track.end,
            track.detections,
            boxes[0].tolist() if mode == "fixed" else "moving",
        )
        written = None
        if output is not None:
            with (
                VideoWriter(output, fps, crf=crf, audio_from=_audio_of(source.path)) as writer,
                tqdm(
                    total=meta.num_frames, desc="cropping", unit="frame", disable=not progress
                ) as bar,
            ):
                for indices, frames in iter_chunks(source, batch_size):
                    writer.write(crop_frames(frames, boxes[indices.start : indices.stop], size))
                    bar.update(len(indices))
            written = writer.path
    return FaceCrop(
        path=written,
        boxes=boxes,
        track=track,
        tracks_found=tracks_found,
        num_frames=meta.num_frames,
        fps=fps,
        frame_size=(meta.height, meta.width),
    )


def _audio_of(path: Path) -> Path | None:
    """Only files (not frame folders) can carry audio."""
    return path if path.is_file() else None


@hydra.main(version_base="1.3", config_path="../conf", config_name="crop")
@exit_on_input_error
def main(cfg: DictConfig) -> None:
    """``python -m fomm.crop video=PATH output=PATH [size=256 margin=0.1 mode=fixed ...]``."""
    if not cfg.get("output"):
        raise InputError("no output given; pass output=PATH.mp4")
    result = crop_video(
        video=cfg.video,
        output=cfg.output,
        size=cfg.size,
        margin=cfg.margin,
        mode=cfg.mode,
        stride=cfg.stride,
        iou_threshold=cfg.iou_threshold,
        max_gap=cfg.max_gap,
        smooth_sigma=cfg.smooth_sigma,
        batch_size=cfg.batch_size,
        crf=cfg.crf,
        detector=hydra.utils.instantiate(cfg.detector),
        progress=cfg.progress,
    )
    left, top, side = (int(v) for v in result.boxes[0])
    print(
        f"{result.path}: {result.num_frames} frames at {result.fps} fps, {cfg.size}x{cfg.size}; "
        f"face track frames {result.track.start}-{result.track.end} of {result.tracks_found} "
        f"track(s); first crop box left={left} top={top} side={side}"
    )


if __name__ == "__main__":
    main()
