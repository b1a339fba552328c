"""Animation inference: relative-motion keypoint normalisation and batched frame generation.

The original animates frame by frame and re-encodes the source for every frame. Here the
source's keypoints, its encoder features and its downscaled copy are computed once, and
driving frames go through the keypoint detector and the generator in batches. In eval
mode (batch norm with running statistics) batching changes nothing but the speed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fomm.nets.geometry import full_precision, inverse_2x2


def convex_hull_area(points: Tensor) -> float:
    """Area of the convex hull of (K, 2) points (the keypoints' spread).

    Raises:
        ValueError: the points are degenerate (fewer than 3, or all on one line).
    """
    from scipy.spatial import ConvexHull, QhullError

    array = points.detach().float().cpu().numpy().astype(np.float64)
    try:
        return float(ConvexHull(array).volume)
    except (QhullError, ValueError) as error:
        raise ValueError(
            f"cannot measure the keypoints' spread for adapt_scale: {len(array)} keypoints "
            "with a degenerate convex hull; animate with adapt_scale=False"
        ) from error


def movement_scale(
    kp_source: dict[str, Tensor], kp_driving_initial: dict[str, Tensor], key: str = "value"
) -> float:
    """sqrt(area(source hull) / area(initial driving hull)) of the first batch item.

    ``key`` names the points (``value``: FOMM's keypoints; TPSMM's control points are
    ``fg_kp``).
    """
    source_area = convex_hull_area(kp_source[key][0])
    driving_area = convex_hull_area(kp_driving_initial[key][0])
    return float(np.sqrt(source_area) / np.sqrt(driving_area))


def normalize_kp(
    kp_source: dict[str, Tensor],
    kp_driving: dict[str, Tensor],
    kp_driving_initial: dict[str, Tensor],
    adapt_movement_scale: bool | float = False,
    use_relative_movement: bool = False,
    use_relative_jacobian: bool = False,
) -> dict[str, Tensor]:
    """Transfer the driving video's motion relative to its initial frame onto the source.

    With relative movement the keypoints become ``p_S + s (p_D - p_D0)``, where ``s`` is
    1 or, with ``adapt_movement_scale``, the square root of the ratio of the source's and
    the initial driving frame's keypoint convex-hull areas; with relative Jacobians also
    ``J = J_D J_D0^-1 J_S``. Without relative movement the driving keypoints are returned.

    Args:
        kp_source: the source's keypoints (batch 1 or B).
        kp_driving: the driving frames' keypoints (batch B).
        kp_driving_initial: keypoints of the driving frame aligned with the source.
        adapt_movement_scale: adapt the motion scale to the object size; a float is taken
            as a precomputed scale (see :func:`movement_scale`).
        use_relative_movement: transfer displacements rather than absolute positions.
        use_relative_jacobian: transfer the Jacobians' relative change too.

    Returns:
        New keypoint dict for the generator (``value`` and, where given, ``jacobian``).
    """
    if isinstance(adapt_movement_scale, bool):
        scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1.0
    else:
        scale = float(adapt_movement_scale)
    kp_new = dict(kp_driving)
    if use_relative_movement:
        with full_precision(kp_driving["value"].device):
            displacement = (kp_driving["value"] - kp_driving_initial["value"]) * scale
            kp_new["value"] = displacement + kp_source["value"]
            if use_relative_jacobian and "jacobian" in kp_driving:
                change = kp_driving["jacobian"] @ inverse_2x2(kp_driving_initial["jacobian"])
                kp_new["jacobian"] = change @ kp_source["jacobian"]
    return kp_new


def inference_context(
    device: torch.device, autocast_dtype: torch.dtype | None
) -> contextlib.AbstractContextManager:
    """Inference mode, with autocast to ``autocast_dtype`` on ``device`` when one is given.

    Why one: the FOMM and TPSMM animators run every network call of an animation in it.
    """
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if autocast_dtype is not None:
        stack.enter_context(torch.autocast(device.type, dtype=autocast_dtype))
    return stack


def _module_device(module: nn.Module) -> torch.device:
    for tensor in module.parameters():
        return tensor.device
    return torch.device("cpu")


class Animator:
    """Animate one source image with any number of driving frames, batch by batch.

    Build it once per source (its keypoints and encoding are computed here), call
    :meth:`set_initial` with the driving frame aligned with the source, then call the
    animator on batches of driving frames. Models are used as they are (put them in eval
    mode); the only change made to them is the memory format when ``channels_last``.

    Args:
        source: (3, H, W) or (1, 3, H, W) image in [0, 1].
        kp_detector: a :class:`fomm.nets.KPDetector`.
        generator: a :class:`fomm.nets.OcclusionAwareGenerator`.
        relative: relative keypoint movement (else absolute driving keypoints).
        adapt_scale: scale the movement by the keypoint hull area ratio.
        relative_jacobian: with ``relative``, also transfer the Jacobians' change.
        autocast_dtype: e.g. ``torch.bfloat16`` to run the convolutions in bf16; None for
            full precision.
        channels_last: convert the models and inputs to channels-last; None picks it when
            autocasting (it speeds up bf16 convolutions, not fp32 ones on CPU).
    """

    def __init__(
        self,
        source: Tensor,
        kp_detector: nn.Module,
        generator: nn.Module,
        relative: bool = True,
        adapt_scale: bool = True,
        relative_jacobian: bool = True,
        autocast_dtype: torch.dtype | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.kp_detector = kp_detector
        self.generator = generator
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.relative_jacobian = relative_jacobian
        self.device = _module_device(generator)
        self.autocast_dtype = autocast_dtype
        self.channels_last = autocast_dtype is not None if channels_last is None else channels_last
        if self.channels_last:
            kp_detector.to(memory_format=torch.channels_last)
            generator.to(memory_format=torch.channels_last)
        if source.dim() == 3:
            source = source.unsqueeze(0)
        if source.dim() != 4 or source.shape[0] != 1:
            raise ValueError(f"source must be (3, H, W) or (1, 3, H, W), got {tuple(source.shape)}")
        with self._context():
            source = self._prepare(source)
            self.kp_source = kp_detector(source)
            self.encoded = generator.encode_source(source)
        self.kp_driving_initial: dict[str, Tensor] | None = None
        self.scale = 1.0

    def _context(self) -> contextlib.AbstractContextManager:
        return inference_context(self.device, self.autocast_dtype)

    def _prepare(self, frames: Tensor) -> Tensor:
        frames = frames.to(self.device, torch.float32, non_blocking=True)
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return frames

    def set_initial(self, frame: Tensor) -> None:
        """Use this driving frame (3, H, W) as the one whose pose matches the source."""
        if frame.dim() == 3:
            frame = frame.unsqueeze(0)
        with self._context():
            self.kp_driving_initial = self.kp_detector(self._prepare(frame[:1]))
        if self.relative and self.adapt_scale:
            self.scale = movement_scale(self.kp_source, self.kp_driving_initial)

    def __call__(self, driving: Tensor, visualize: bool = False) -> dict[str, Any]:
        """Animate a batch of driving frames (B, 3, H, W), or one (3, H, W), in [0, 1].

        Returns:
            ``prediction`` (B, 3, H, W) float32 in [0, 1] on the models' device, with
            ``kp_driving`` and ``kp_norm`` (the keypoints the generator used); with
            ``visualize`` also the generator's ``mask``, ``occlusion_map``, ``deformed``.
        """
        if self.relative and self.kp_driving_initial is None:
            raise RuntimeError("call set_initial(frame) before animating with relative motion")
        if driving.dim() == 3:
            driving = driving.unsqueeze(0)
        with self._context():
            kp_driving = self.kp_detector(self._prepare(driving))
            if self.relative:
                kp_norm = normalize_kp(
                    self.kp_source,
                    kp_driving,
                    self.kp_driving_initial,
                    adapt_movement_scale=self.scale,
                    use_relative_movement=True,
                    use_relative_jacobian=self.relative_jacobian,
                )
            else:
                kp_norm = kp_driving
            out = self.generator.decode(self.encoded, kp_norm, self.kp_source, visualize=visualize)
        if not visualize:
            out = {"prediction": out["prediction"]}
        out["prediction"] = out["prediction"].float().contiguous()
        out.update(kp_driving=kp_driving, kp_norm=kp_norm)
        return out


def iterate_animation(
    animator: Animator, driving_batches: Iterable[Tensor], visualize: bool = False
) -> Iterator[dict[str, Any]]:
    """Animate a stream of driving batches (for videos too long to hold in memory)."""
    for batch in driving_batches:
        yield animator(batch, visualize=visualize)


def check_animation_request(driving_frames: Tensor, initial_frame: int, batch_size: int) -> int:
    """Validate an animation request; returns the number of driving frames.

    Raises:
        ValueError: frames not (T, 3, H, W), ``initial_frame`` outside them, or
            ``batch_size`` below 1.
    """
    if driving_frames.dim() != 4:
        raise ValueError(f"driving_frames must be (T, 3, H, W), got {tuple(driving_frames.shape)}")
    num_frames = driving_frames.shape[0]
    if not 0 <= initial_frame < num_frames:
        raise ValueError(
            f"initial_frame={initial_frame} is outside the {num_frames} driving frames"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return num_frames


def animate(
    source: Tensor,
    driving_frames: Tensor,
    kp_detector: nn.Module,
    generator: nn.Module,
    relative: bool = True,
    adapt_scale: bool = True,
    relative_jacobian: bool = True,
    batch_size: int = 16,
    initial_frame: int = 0,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool | None = None,
) -> Tensor:
    """Animate ``source`` with the motion of ``driving_frames``.

    ``initial_frame`` is the driving frame whose pose matches the source (the original
    demo's "best frame"): relative motion is measured from it, which equals the demo's
    forward and backward passes from that frame.

    Args:
        source: (3, H, W) or (1, 3, H, W) image in [0, 1].
        driving_frames: (T, 3, H, W) frames in [0, 1], the source's size.
        kp_detector: keypoint detector in eval mode.
        generator: generator in eval mode.
        relative: relative keypoint movement.
        adapt_scale: adapt the movement scale to the keypoint hull areas.
        relative_jacobian: with ``relative``, transfer the Jacobians' change too.
        batch_size: driving frames per forward pass.
        initial_frame: index of the driving frame aligned with the source.
        autocast_dtype: e.g. ``torch.bfloat16``; None for full precision.
        channels_last: see :class:`Animator`.

    Returns:
        (T, 3, H, W) float32 predictions on ``driving_frames``' device.
    """
    num_frames = check_animation_request(driving_frames, initial_frame, batch_size)
    animator = Animator(
        source,
        kp_detector,
        generator,
        relative=relative,
        adapt_scale=adapt_scale,
        relative_jacobian=relative_jacobian,
        autocast_dtype=autocast_dtype,
        channels_last=channels_last,
    )
    animator.set_initial(driving_frames[initial_frame])
    outputs = [
        animator(driving_frames[start : start + batch_size])["prediction"].to(driving_frames.device)
        for start in range(0, num_frames, batch_size)
    ]
    return torch.cat(outputs)
