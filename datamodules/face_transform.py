"""The base pipeline of every face crop a network sees: fit into a square, normalise, tensor.

Training (:class:`datamodules.faces.FaceDataModule`) and scoring (the detector's
``VideoScorer``) must bring crops to the network the same way, so both build it here;
the training augmentation between the fitting and the normalisation arrives from the
data config (``conf/augment/``), never by import.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

# The statistics the ImageNet-pretrained backbones were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def face_transform(
    image_size: int,
    augment: A.BasicTransform | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> A.Compose:
    """Fit a crop into a square, optionally augment it, normalise it, make it a tensor.

    The crop keeps its aspect ratio: its longer side is scaled to
    ``image_size`` and the rest padded with black, as the paper's loader does.

    Args:
        image_size: side of the square network input (224 in the paper).
        augment: training augmentation applied to the fitted uint8 crop.
        mean: per-channel mean of the normalisation (ImageNet's by default).
        std: per-channel std of the normalisation.

    Returns:
        A pipeline taking ``image=`` a uint8 RGB array and giving a float32
        ``(3, image_size, image_size)`` tensor.
    """
    steps: list[A.BasicTransform] = [
        A.LongestMaxSize(max_size=image_size),
        A.PadIfNeeded(
            min_height=image_size, min_width=image_size, border_mode=cv2.BORDER_CONSTANT, fill=0
        ),
    ]
    if augment is not None:
        steps.append(augment)
    steps += [A.Normalize(mean=tuple(mean), std=tuple(std)), ToTensorV2()]
    return A.Compose(steps)
