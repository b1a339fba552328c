"""Link per-frame face boxes into tracks and turn a track into square crop boxes.

This is the geometry behind ``python -m fomm.crop`` (the detector and the video IO
live there). It follows the official ``crop-video.py`` of first-order-model where that
is a choice about the data FOMM expects, and says where it differs:

* Boxes are linked into a track while their IoU with the track's *first* box stays
  above ``iou_threshold`` (0.25 officially), so a fixed crop keeps the face at a
  steady scale; in ``follow`` mode they are linked to the track's *latest* box instead,
  since the crop moves with the face.
* The crop is square: ``(1 + 2 * margin)`` times the longer side of the face box
  (``margin`` = the official ``increase`` = 0.1). The official script clips the box at
  the frame border, which can make it non-square and the face stretched after resizing;
  here the square is shifted back inside the frame and only shrunk when the frame is
  smaller than it.
* ``fixed`` (default, as the official): one box around the union of the track's boxes
  for the whole clip, so the camera stays still, which is what FOMM's relative motion
  assumes. ``follow``: a box of constant size whose centre follows the face, smoothed
  over time with a Gaussian of ``smooth_sigma`` frames (for subjects that walk across
  the frame; a moving crop adds apparent background motion).
* Detections may be made on every ``stride``-th frame; a track survives ``max_gap``
  sampled frames without a detection (the official ends it at the first miss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

CROP_MODES = ("fixed", "follow")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)`` (x0, y0, x1, y1)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


@dataclass
class FaceTrack:
    """One face followed over time.

    Attributes:
        boxes: frame index -> detector box (x0, y0, x1, y1) in full-frame pixels.
    """

    boxes: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def start(self) -> int:
        """First frame with a detection."""
        return min(self.boxes)

    @property
    def end(self) -> int:
        """Last frame with a detection (inclusive)."""
        return max(self.boxes)

    @property
    def detections(self) -> int:
        """How many frames detected this face."""
        return len(self.boxes)

    @property
    def mean_area(self) -> float:
        """Mean box area in pixels (to prefer the main subject over a face in the background)."""
        stacked = np.stack(list(self.boxes.values()))
        return float(((stacked[:, 2] - stacked[:, 0]) * (stacked[:, 3] - stacked[:, 1])).mean())

    @property
    def union_box(self) -> np.ndarray:
        """The smallest box holding every box of the track."""
        stacked = np.stack(list(self.boxes.values()))
        return np.concatenate([stacked[:, :2].min(axis=0), stacked[:, 2:].max(axis=0)])


def link_face_tracks(
    detections: Sequence[tuple[int, np.ndarray]],
    iou_threshold: float = 0.25,
    max_gap: int = 2,
    link_to: str = "first",
) -> list[FaceTrack]:
    """Link per-frame boxes into face tracks.

    Boxes of a frame are matched one-to-one to open tracks, best IoU first; a box that
    matches none starts a track; a track that misses more than ``max_gap`` sampled
    frames in a row is closed.

    Args:
        detections: ``(frame_index, boxes (n, 4))`` for each sampled frame, in order.
        iou_threshold: the least IoU with a track's reference box to join it.
        max_gap: sampled frames a track may miss before it ends.
        link_to: compare with the track's ``first`` box (fixed crops) or ``last`` box.

    Returns:
        All tracks, in order of their first frame.
    """
    if link_to not in ("first", "last"):
        raise ValueError(f"link_to must be 'first' or 'last', got {link_to}")
    open_tracks: list[tuple[FaceTrack, int]] = []  # (track, sampled frames missed)
    closed: list[FaceTrack] = []
    for frame_index, boxes in detections:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        if open_tracks and len(boxes):
            pick = 0 if link_to == "first" else -1
            references = np.stack(
                [track.boxes[sorted(track.boxes)[pick]] for track, _ in open_tracks]
            )
            iou = box_iou(references, boxes)
            for flat in np.argsort(-iou, axis=None):
                t, b = np.unravel_index(flat, iou.shape)
                if iou[t, b] <= iou_threshold:
                    break
                if t in matched_tracks or b in matched_boxes:
                    continue
                open_tracks[t][0].boxes[frame_index] = boxes[b]
                matched_tracks.add(int(t))
                matched_boxes.add(int(b))
        still_open = []
        for t, (track, missed) in enumerate(open_tracks):
            missed = 0 if t in matched_tracks else missed + 1
            if missed > max_gap:
                closed.append(track)
            else:
                still_open.append((track, missed))
        open_tracks = still_open
        for b, box in enumerate(boxes):
            if b not in matched_boxes:
                open_tracks.append((FaceTrack({frame_index: box}), 0))
    closed.extend(track for track, _ in open_tracks)
    return sorted(closed, key=lambda track: track.start)


def main_track(tracks: Sequence[FaceTrack]) -> FaceTrack | None:
    """The face to crop: the most often detected, then the largest on average."""
    if not tracks:
        return None
    return max(tracks, key=lambda track: (track.detections, track.mean_area))


def square_box(
    box: np.ndarray, margin: float, frame_height: int, frame_width: int
) -> tuple[int, int, int]:
    """A square ``(left, top, side)`` around a face box, enlarged by ``margin`` on each side.

    The side is ``(1 + 2 * margin)`` times the box's longer side; the square is shifted
    to lie inside the frame, and shrunk to the frame's shorter side if larger.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = (1 + 2 * margin) * max(x1 - x0, y1 - y0)
    return _place_square((x0 + x1) / 2, (y0 + y1) / 2, side, frame_height, frame_width)


def _place_square(
    centre_x: float, centre_y: float, side: float, frame_height: int, frame_width: int
) -> tuple[int, int, int]:
    side_px = int(round(min(max(side, 2.0), frame_height, frame_width)))
    left = int(round(centre_x - side_px / 2))
    top = int(round(centre_y - side_px / 2))
    left = min(max(left, 0), frame_width - side_px)
    top = min(max(top, 0), frame_height - side_px)
    return left, top, side_px


def crop_boxes(
    track: FaceTrack,
    num_frames: int,
    frame_height: int,
    frame_width: int,
    margin: float = 0.1,
    mode: str = "fixed",
    smooth_sigma: float = 5.0,
) -> np.ndarray:
    """Square crop boxes for every frame of a video from one track.

    Args:
        track: the face to follow.
        num_frames: frames in the video (boxes are given for all of them; outside the
            track the nearest box is held).
        frame_height: frame size in pixels.
        frame_width: frame size in pixels.
        margin: fraction of the face size added on each side.
        mode: ``fixed`` (one box, the union of the track) or ``follow`` (moving, smoothed).
        smooth_sigma: Gaussian smoothing of the ``follow`` centre, in frames.

    Returns:
        ``(num_frames, 3)`` int array of ``(left, top, side)``.
    """
    if mode not in CROP_MODES:
        raise ValueError(f"mode must be one of {CROP_MODES}, got {mode}")
    if mode == "fixed":
        box = square_box(track.union_box, margin, frame_height, frame_width)
        return np.tile(np.asarray(box, dtype=np.int64), (num_frames, 1))
    frames = np.array(sorted(track.boxes))
    stacked = np.stack([track.boxes[f] for f in frames])
    every = np.arange(num_frames)
    centre_x = np.interp(every, frames, (stacked[:, 0] + stacked[:, 2]) / 2)
    centre_y = np.interp(every, frames, (stacked[:, 1] + stacked[:, 3]) / 2)
    if smooth_sigma > 0 and num_frames > 1:
        centre_x = gaussian_filter1d(centre_x, smooth_sigma, mode="nearest")
        centre_y = gaussian_filter1d(centre_y, smooth_sigma, mode="nearest")
    # One size for the whole clip: a crop that zooms would read as motion to FOMM.
    longest = np.maximum(stacked[:, 2] - stacked[:, 0], stacked[:, 3] - stacked[:, 1])
    side = (1 + 2 * margin) * float(np.max(longest))
    return np.array(
        [
            _place_square(x, y, side, frame_height, frame_width)
            for x, y in zip(centre_x, centre_y, strict=True)
        ],
        dtype=np.int64,
    )
