"""TPSMM training losses beyond FOMM's.

The perceptual pyramid is FOMM's (``fomm.losses.PerceptualPyramidLoss`` over
``fomm.losses.ImagePyramid``), unchanged; these are TPSMM's own terms.
"""

from fomm.tpsmm.losses.avd import avd_reconstruction_loss, random_scale
from fomm.tpsmm.losses.background import background_cycle_loss
from fomm.tpsmm.losses.equivariance import control_point_equivariance_loss
from fomm.tpsmm.losses.warp import warp_loss

__all__ = [
    "avd_reconstruction_loss",
    "background_cycle_loss",
    "control_point_equivariance_loss",
    "random_scale",
    "warp_loss",
]
