"""TPSMM animation: the official demo's ``standard``, ``relative`` and ``avd`` modes, batched.

The demo animates frame by frame; here driving frames go through the networks in batches
(every network is per-sample in eval mode, so batching changes nothing but the speed).
As in the demo, the animation modes leave the background predictor out (the background
transform is the identity); the reconstruction protocol of the official evaluation uses it
(``background=True``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor

from fomm.inference import (
    _module_device,
    check_animation_request,
    inference_context,
    normalize_kp,
)
from fomm.inference import (
    movement_scale as keypoint_movement_scale,
)

MODES = ("relative", "avd", "standard")


def movement_scale(kp_source: dict[str, Tensor], kp_driving_initial: dict[str, Tensor]) -> float:
    """sqrt(hull area of the source's control points / that of the initial driving frame's).

    Why: a small face driven by a large one must move less; the ratio of the control
    points' spreads sets how much (first batch item of each).
    """
    return keypoint_movement_scale(kp_source, kp_driving_initial, key="fg_kp")


def relative_control_points(
    kp_source: dict[str, Tensor],
    kp_driving: dict[str, Tensor],
    kp_driving_initial: dict[str, Tensor],
    scale: float | None = None,
) -> dict[str, Tensor]:
    """The demo's ``relative`` mode: ``p_S + s (p_D - p_D0)`` for every control point.

    Args:
        kp_source: ``fg_kp`` of the source (batch 1 or B).
        kp_driving: ``fg_kp`` (B, 5K, 2) of the driving frames.
        kp_driving_initial: ``fg_kp`` of the driving frame aligned with the source.
        scale: the movement scale ``s``; None computes it (:func:`movement_scale`).
    """
    if scale is None:
        scale = movement_scale(kp_source, kp_driving_initial)
    moved = normalize_kp(
        {"value": kp_source["fg_kp"]},
        {"value": kp_driving["fg_kp"]},
        {"value": kp_driving_initial["fg_kp"]},
        adapt_movement_scale=float(scale),
        use_relative_movement=True,
    )
    return {"fg_kp": moved["value"]}


class TPSMMAnimator:
    """Animate one source image with any number of driving frames, batch by batch.

    Build it once per source (its control points are computed here), call
    :meth:`set_initial` with the driving frame aligned with the source (``relative``
    mode), then call it on batches of driving frames. Put the networks in eval mode.

    Args:
        networks: with ``.kp_detector``, ``.dense_motion_network``, ``.inpainting_network``
            and, for ``avd``, ``.avd_network`` (e.g. from ``fomm.load_official_checkpoint``).
        source: (3, H, W) or (1, 3, H, W) image in [0, 1].
        mode: ``relative`` (motion relative to the initial frame, scaled by the hull
            areas), ``avd`` (the AVD network's points) or ``standard`` (the driving
            frames' own points).
        autocast_dtype: e.g. ``torch.bfloat16`` to run the convolutions in bf16; None for
            full precision.
        background: use the background predictor's affine for each (source, driving
            frame), as the official reconstruction does; the demo's animation modes
            leave it out (the identity), which is the default. Without a background
            predictor it changes nothing.
        adapt_scale: scale the ``relative`` displacements by the hull areas (the demo
            always does); False moves the source's points by the raw displacements.

    Raises:
        ValueError: unknown mode, a bad source shape, or ``avd`` without an AVD network.
    """

    def __init__(
        self,
        networks: Any,
        source: Tensor,
        mode: str = "relative",
        autocast_dtype: torch.dtype | None = None,
        background: bool = False,
        adapt_scale: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "avd" and getattr(networks, "avd_network", None) is None:
            raise ValueError(
                "mode=avd needs a trained AVD network, and this model has none (the "
                "checkpoint has no avd_network): train the AVD stage or use mode=relative"
            )
        if source.dim() == 3:
            source = source.unsqueeze(0)
        if source.dim() != 4 or source.shape[0] != 1:
            raise ValueError(f"source must be (3, H, W) or (1, 3, H, W), got {tuple(source.shape)}")
        self.networks = networks
        self.mode = mode
        self.autocast_dtype = autocast_dtype
        self.background = background and getattr(networks, "bg_predictor", None) is not None
        self.adapt_scale = adapt_scale
        self.device = _module_device(networks.kp_detector)
        self.source = source.to(self.device, torch.float32)
        with self._context():
            self.kp_source = networks.kp_detector(self.source)
        self.kp_driving_initial: dict[str, Tensor] | None = None
        self.scale = 1.0

    def _context(self) -> contextlib.AbstractContextManager:
        return inference_context(self.device, self.autocast_dtype)

    def set_initial(self, frame: Tensor) -> None:
        """Use this driving frame (3, H, W) as the one whose pose matches the source."""
        if frame.dim() == 3:
            frame = frame.unsqueeze(0)
        with self._context():
            self.kp_driving_initial = self.networks.kp_detector(
                frame[:1].to(self.device, torch.float32)
            )
        if self.adapt_scale:
            self.scale = movement_scale(self.kp_source, self.kp_driving_initial)

    def control_points(self, kp_driving: dict[str, Tensor]) -> dict[str, Tensor]:
        """The points the source is moved to, for the driving frames' points."""
        if self.mode == "standard":
            return kp_driving
        if self.mode == "avd":
            return self.networks.avd_network(self.kp_source, kp_driving)
        if self.kp_driving_initial is None:
            raise RuntimeError("call set_initial(frame) before animating in relative mode")
        return relative_control_points(
            self.kp_source, kp_driving, self.kp_driving_initial, self.scale
        )

    def __call__(self, driving: Tensor, visualize: bool = False) -> dict[str, Tensor]:
        """Animate a batch of driving frames (B, 3, H, W), or one (3, H, W), in [0, 1].

        Returns:
            ``prediction`` (B, 3, H, W) float32 in [0, 1] on the networks' device,
            ``kp_driving`` (the driving frames' points) and ``kp_norm`` (those used); with
            ``visualize`` also ``deformed`` (the warped source), ``occlusion_map`` (the
            finest mask: the one that blends the output) and ``occlusion_levels`` (every
            resolution's mask, coarse to fine; one without multi-resolution masks).
        """
        if driving.dim() == 3:
            driving = driving.unsqueeze(0)
        with self._context():
            driving = driving.to(self.device, torch.float32)
            batch = driving.shape[0]
            kp_driving = self.networks.kp_detector(driving)
            kp_norm = self.control_points(kp_driving)
            source = self.source.expand(batch, -1, -1, -1)
            kp_source = {"fg_kp": self.kp_source["fg_kp"].expand(batch, -1, -1)}
            bg_param = self.networks.bg_predictor(source, driving) if self.background else None
            motion = self.networks.dense_motion_network(
                source_image=source, kp_driving=kp_norm, kp_source=kp_source, bg_param=bg_param
            )
            out = self.networks.inpainting_network(source, motion)
        result = {
            "prediction": out["prediction"].float().contiguous(),
            "kp_driving": kp_driving,
            "kp_norm": kp_norm,
        }
        if visualize:
            result["deformed"] = out["deformed"].float()
            result["occlusion_map"] = out["occlusion_map"][-1].float()
            result["occlusion_levels"] = [mask.float() for mask in out["occlusion_map"]]
        return result


def animate(
    networks: Any,
    source: Tensor,
    driving_frames: Tensor,
    mode: str = "relative",
    batch_size: int = 16,
    initial_frame: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> Tensor:
    """Animate ``source`` with the motion of ``driving_frames`` (the demo's make_animation).

    Args:
        networks: see :class:`TPSMMAnimator`.
        source: (3, H, W) or (1, 3, H, W) image in [0, 1].
        driving_frames: (T, 3, H, W) frames in [0, 1], the source's size.
        mode: ``relative``, ``avd`` or ``standard``.
        batch_size: driving frames per forward pass.
        initial_frame: the driving frame aligned with the source (the demo uses frame 0,
            or with ``--find_best_frame`` the best-aligned one; measuring from it equals
            the demo's forward and backward passes).
        autocast_dtype: e.g. ``torch.bfloat16``; None for full precision.

    Returns:
        (T, 3, H, W) float32 predictions on ``driving_frames``' device.
    """
    num_frames = check_animation_request(driving_frames, initial_frame, batch_size)
    animator = TPSMMAnimator(networks, source, mode=mode, autocast_dtype=autocast_dtype)
    if mode == "relative":
        animator.set_initial(driving_frames[initial_frame])
    outputs = [
        animator(driving_frames[start : start + batch_size])["prediction"].to(driving_frames.device)
        for start in range(0, num_frames, batch_size)
    ]
    return torch.cat(outputs)
