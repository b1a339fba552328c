"""Self-blended images: train a detector on real faces only (Shiohara & Yamasaki, CVPR 2022).

``data.fakes=self_blended`` (any face data config) turns every real training crop into
a pair: the crop and its self-blended pseudo-fake (:class:`SelfBlend`). The masks grow
from landmarks (:mod:`~fakedetect.self_blend.landmarks`, :mod:`~fakedetect.self_blend.masks`);
``recipe=effnet_b4_sbi`` is the paper's training; the ``self_blend_preview`` callback and
``python -m fakedetect.self_blend.preview`` show what the detector learns from.
"""

from fakedetect.self_blend.blend import SelfBlend, SelfBlended
from fakedetect.self_blend.landmarks import AutoLandmarkDetector, FaceAlignment68, MTCNNFivePoints

__all__ = [
    "AutoLandmarkDetector",
    "FaceAlignment68",
    "MTCNNFivePoints",
    "SelfBlend",
    "SelfBlended",
]
