"""Reconstruct a video from one of its frames and measure how close the result is.

The paper's reconstruction protocol (Sec. 4.1, and the official ``reconstruction.py``):
the first frame is the source, every frame in turn is the driving frame, keypoints are
used as detected (absolute, no relative motion), and the score is the mean absolute
difference between generated and real frames, pixel values in [0, 1].

:func:`reconstruct` runs that on one (source, driving video) pair in batches and returns
everything the studies need besides the L1: the predictions, the fraction of each
frame the generator marks as occluded, and the keypoint trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from fomm.animators import make_animator
from fomm.visualize import points_of

# An occlusion-map pixel below this counts as occluded (the map is 1 where the warped
# source is used and 0 where the generator must inpaint).
OCCLUSION_THRESHOLD = 0.5


@dataclass
class Reconstruction:
    """One reconstructed video.

    Attributes:
        prediction: ``(T, 3, H, W)`` float32 generated frames in [0, 1], on the CPU.
        l1: ``(T,)`` mean absolute error of each frame against its driving frame.
        occluded_fraction: ``(T,)`` share of occlusion-map pixels below
            :data:`OCCLUSION_THRESHOLD`; None for models without an occlusion map.
        occlusion_maps: ``(T, 1, h, w)`` float32 maps when asked for, else None.
        occlusion_levels: when asked for, every resolution's map, coarse to fine, each
            ``(T, 1, h_l, w_l)`` float32: TPSMM's multi-resolution masks (the last is
            ``occlusion_maps``), the one map of FOMM or a single-mask TPSMM; else None.
        kp_source: ``(K, 2)`` source keypoints in [-1, 1] (x, y).
        kp_driving: ``(T, K, 2)`` keypoints detected in each driving frame.
        jacobian_driving: ``(T, K, 2, 2)`` their Jacobians, None without.
    """

    prediction: Tensor
    l1: np.ndarray
    occluded_fraction: np.ndarray | None
    occlusion_maps: Tensor | None
    kp_source: np.ndarray
    kp_driving: np.ndarray
    jacobian_driving: np.ndarray | None
    occlusion_levels: list[Tensor] | None = None

    @property
    def l1_mean(self) -> float:
        """Mean L1 over the video's frames."""
        return float(self.l1.mean())

    @property
    def occluded_mean(self) -> float:
        """Mean occluded fraction over the frames (NaN without an occlusion map)."""
        return (
            float("nan") if self.occluded_fraction is None else float(self.occluded_fraction.mean())
        )


def reconstruct(
    networks: nn.Module,
    driving: Tensor,
    source: Tensor | None = None,
    batch_size: int = 16,
    relative: bool = False,
    adapt_scale: bool = False,
    relative_jacobian: bool = True,
    initial_frame: int = 0,
    return_occlusion_maps: bool = False,
    return_occlusion_levels: bool = False,
    autocast_dtype: torch.dtype | None = None,
) -> Reconstruction:
    """Animate ``source`` with every frame of ``driving`` and compare with ``driving``.

    Args:
        networks: an FOMM model (``.kp_detector``, ``.generator``) or a TPSMM, in eval
            mode (a TPSMM reconstructs as the official evaluation: with its background
            affine, without relative motion).
        driving: ``(T, 3, H, W)`` frames in [0, 1] (any device; batches move to the model's).
        source: ``(3, H, W)`` image; None uses ``driving[0]`` (the paper's protocol).
        batch_size: frames per forward pass.
        relative: relative motion (off for the paper's reconstruction; on to study how
            an animation of a same-identity source departs from the driving frames).
        adapt_scale: with ``relative``, adapt the motion scale.
        relative_jacobian: with ``relative``, transfer the Jacobians' change.
        initial_frame: with ``relative``, the driving frame motion is measured from.
        return_occlusion_maps: keep the occlusion maps (``(T, 1, h, w)`` float32).
        return_occlusion_levels: keep every resolution's occlusion map (TPSMM's
            multi-resolution masks; FOMM's one map).
        autocast_dtype: e.g. ``torch.bfloat16`` on GPUs; None for fp32.

    Returns:
        A :class:`Reconstruction`.
    """
    if driving.dim() != 4 or driving.shape[1] != 3:
        raise ValueError(f"driving must be (T, 3, H, W), got {tuple(driving.shape)}")
    source = driving[0] if source is None else source
    animator = make_animator(
        networks,
        source,
        mode="relative" if relative else "standard",
        adapt_scale=adapt_scale,
        relative_jacobian=relative_jacobian,
        autocast_dtype=autocast_dtype,
        background=not relative,
    )
    if relative:
        animator.set_initial(driving[initial_frame])
    predictions, l1, occluded, maps, kp_values, jacobians = [], [], [], [], [], []
    levels: list[list[Tensor]] = []
    for start in range(0, driving.shape[0], batch_size):
        target = driving[start : start + batch_size]
        out = animator(target, visualize=True)
        prediction = out["prediction"].float().cpu()
        predictions.append(prediction)
        l1.append((prediction - target.float().cpu()).abs().mean(dim=(1, 2, 3)))
        occlusion = out.get("occlusion_map")
        if occlusion is not None:
            occlusion = occlusion.float().cpu()
            occluded.append((occlusion < OCCLUSION_THRESHOLD).float().mean(dim=(1, 2, 3)))
            if return_occlusion_maps:
                maps.append(occlusion)
            if return_occlusion_levels:
                levels.append([m.float().cpu() for m in out.get("occlusion_levels", [occlusion])])
        kp_values.append(points_of(out["kp_driving"]).float().cpu())
        if "jacobian" in out["kp_driving"]:
            jacobians.append(out["kp_driving"]["jacobian"].float().cpu())
    return Reconstruction(
        prediction=torch.cat(predictions),
        l1=torch.cat(l1).numpy(),
        occluded_fraction=torch.cat(occluded).numpy() if occluded else None,
        occlusion_maps=torch.cat(maps) if maps else None,
        kp_source=points_of(animator.kp_source)[0].float().cpu().numpy(),
        kp_driving=torch.cat(kp_values).numpy(),
        jacobian_driving=torch.cat(jacobians).numpy() if jacobians else None,
        occlusion_levels=[torch.cat(level) for level in zip(*levels, strict=True)]
        if levels
        else None,
    )
