"""One animator for both motion models: FOMM's or TPSMM's, chosen by the loaded networks.

Why: the animation command, the reconstruction evaluation and the loop's deepfakes take
any checkpoint of the animation package. FOMM networks have ``generator``; TPSMM networks
have ``dense_motion_network`` and ``inpainting_network``. Both animators are built once
per source, take :meth:`set_initial` with the driving frame aligned with the source, and
are called on batches of driving frames (``prediction``, ``kp_driving``, ``kp_norm``).

The motion ``mode`` is TPSMM's demo vocabulary, which covers FOMM's options too:

* ``relative``: the source's points moved by the driving displacements from the initial
  frame (FOMM ``relative=true``), scaled by the keypoint-hull ratio with ``adapt_scale``
  (TPSMM's demo always scales, which is the default);
* ``standard``: the driving frame's own points (FOMM ``relative=false``, the absolute
  motion the reconstruction protocol uses);
* ``avd``: TPSMM's AVD network's points (a TPSMM checkpoint with a trained AVD stage).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from fomm.inference import Animator
from fomm.tpsmm.inference import MODES, TPSMMAnimator

MOTION_MODES = MODES


def is_tpsmm(networks: Any) -> bool:
    """Whether loaded networks are a Thin-Plate-Spline Motion Model (else FOMM)."""
    return hasattr(networks, "dense_motion_network") and hasattr(networks, "inpainting_network")


def motion_model_name(networks: Any) -> str:
    """``tpsmm`` or ``fomm``: what a results table calls the model."""
    return "tpsmm" if is_tpsmm(networks) else "fomm"


def occlusion_mask_levels(networks: Any) -> int:
    """How many occlusion masks the model predicts per frame (its resolutions).

    Why: a study that measures every mask must know its table's columns before the first
    frame. TPSMM's multi-resolution masks are one per inpainting level (four); FOMM and a
    single-mask TPSMM have one; an FOMM without an occlusion map none.
    """
    if is_tpsmm(networks):
        return len(networks.dense_motion_network.occlusion)
    return 1 if getattr(networks.generator, "estimate_occlusion_map", False) else 0


def resolve_mode(mode: str | None, relative: bool = True) -> str:
    """The motion mode: ``mode`` when given, else FOMM's ``relative`` flag mapped to one.

    Raises:
        ValueError: ``mode`` is not one of :data:`MOTION_MODES`.
    """
    if mode in (None, "", "null"):
        return "relative" if relative else "standard"
    if mode not in MOTION_MODES:
        raise ValueError(f"mode={mode} is not one of {', '.join(MOTION_MODES)}")
    return str(mode)


def make_animator(
    networks: Any,
    source: Tensor,
    mode: str = "relative",
    adapt_scale: bool = True,
    relative_jacobian: bool = True,
    autocast_dtype: torch.dtype | None = None,
    background: bool = False,
) -> Animator | TPSMMAnimator:
    """An animator of ``source`` for these networks, in this motion mode.

    Args:
        networks: FOMM (``kp_detector``, ``generator``) or TPSMM networks, in eval mode.
        source: (3, H, W) or (1, 3, H, W) image in [0, 1].
        mode: ``relative``, ``standard`` or ``avd`` (see the module docstring).
        adapt_scale: relative motion scaled by the keypoint-hull ratio (both models).
        relative_jacobian: FOMM's relative Jacobians.
        autocast_dtype: e.g. ``torch.bfloat16``; None for full precision.
        background: TPSMM only: use the background predictor (the reconstruction
            protocol); the animation modes leave it out as the demo does.

    Raises:
        ValueError: an unknown mode, ``avd`` for FOMM, or ``avd`` without a trained AVD
            network (the message says which).
    """
    mode = resolve_mode(mode)
    if is_tpsmm(networks):
        return TPSMMAnimator(
            networks,
            source,
            mode=mode,
            autocast_dtype=autocast_dtype,
            background=background,
            adapt_scale=adapt_scale,
        )
    if mode == "avd":
        raise ValueError(
            "mode=avd needs a Thin-Plate-Spline Motion Model checkpoint with a trained AVD "
            "network; FOMM animates with mode=relative or mode=standard"
        )
    return Animator(
        source,
        networks.kp_detector,
        networks.generator,
        relative=mode == "relative",
        adapt_scale=adapt_scale,
        relative_jacobian=relative_jacobian,
        autocast_dtype=autocast_dtype,
    )
