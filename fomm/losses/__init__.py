"""FOMM training losses: perceptual pyramid, equivariance, LSGAN and feature matching."""

from fomm.losses.adversarial import (
    discriminator_gan_loss,
    feature_matching_loss,
    generator_gan_loss,
)
from fomm.losses.equivariance import equivariance_jacobian_loss, equivariance_value_loss
from fomm.losses.perceptual import PerceptualPyramidLoss
from fomm.losses.pyramid import ImagePyramid
from fomm.losses.vgg import Vgg19Features

__all__ = [
    "ImagePyramid",
    "PerceptualPyramidLoss",
    "Vgg19Features",
    "discriminator_gan_loss",
    "equivariance_jacobian_loss",
    "equivariance_value_loss",
    "feature_matching_loss",
    "generator_gan_loss",
]
