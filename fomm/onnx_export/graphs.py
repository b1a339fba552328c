"""FOMM's two networks as ONNX-ready modules: named tensors in, a tuple of tensors out.

The torch networks take and return dicts of keypoints; an ONNX graph has flat, named
inputs and outputs. These wrappers only flatten: every number is computed by the torch
networks themselves, so the graph is the model, not a re-implementation of it.
"""

from __future__ import annotations

from torch import Tensor, nn

KP_PARTS = ("value", "jacobian")
# Generator outputs after ``prediction``, where the model has them (no dense motion
# network: ``prediction`` alone; no occlusion estimate: no ``occlusion_map``).
GENERATOR_EXTRAS = ("occlusion_map", "deformed", "mask", "sparse_deformed")


def has_jacobian(kp_detector: nn.Module) -> bool:
    """Whether the keypoint detector predicts local affine Jacobians (``estimate_jacobian``)."""
    return getattr(kp_detector, "jacobian", None) is not None


def keypoint_names(prefix: str, jacobian: bool) -> list[str]:
    """``kp_source_value`` (and ``kp_source_jacobian``) for prefix ``kp_source``."""
    return [f"{prefix}_{part}" for part in KP_PARTS[: 2 if jacobian else 1]]


def generator_output_names(generator: nn.Module) -> list[str]:
    """The generator graph's outputs: ``prediction``, then what this model computes."""
    motion = getattr(generator, "dense_motion_network", None)
    if motion is None:
        return ["prediction"]
    extras = [name for name in GENERATOR_EXTRAS if name != "occlusion_map" or motion.occlusion]
    return ["prediction", *extras]


class KeypointGraph(nn.Module):
    """``image`` (N, C, H, W) in [0, 1] -> ``value`` (N, K, 2) [, ``jacobian`` (N, K, 2, 2)]."""

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector
        self.output_names = list(KP_PARTS[: 2 if has_jacobian(kp_detector) else 1])

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:  # noqa: D102
        keypoints = self.kp_detector(image)
        return tuple(keypoints[name] for name in self.output_names)


class GeneratorGraph(nn.Module):
    """The source rendered in the driving keypoints' pose, from flat keypoint tensors.

    Inputs, in order: ``source`` (S, C, H, W), ``kp_source_value`` (S, K, 2),
    [``kp_source_jacobian`` (S, K, 2, 2)], ``kp_driving_value`` (N, K, 2),
    [``kp_driving_jacobian`` (N, K, 2, 2)], with S = N or S = 1. One source for N driving
    frames is encoded once and broadcast (what :class:`fomm.inference.Animator` does in
    torch). Outputs: :func:`generator_output_names`.
    """

    def __init__(self, generator: nn.Module, jacobian: bool) -> None:
        super().__init__()
        self.generator = generator
        self.jacobian = jacobian
        self.input_names = [
            "source",
            *keypoint_names("kp_source", jacobian),
            *keypoint_names("kp_driving", jacobian),
        ]
        self.output_names = generator_output_names(generator)

    def forward(self, source: Tensor, *keypoints: Tensor) -> tuple[Tensor, ...]:  # noqa: D102
        half = len(keypoints) // 2
        parts = KP_PARTS[:half]
        kp_source = dict(zip(parts, keypoints[:half], strict=True))
        kp_driving = dict(zip(parts, keypoints[half:], strict=True))
        batch = kp_driving["value"].shape[0]
        encoded = {
            name: value.expand(batch, *value.shape[1:])
            for name, value in self.generator.encode_source(source).items()
        }
        kp_source = {
            name: value.expand(batch, *value.shape[1:]) for name, value in kp_source.items()
        }
        out = self.generator.decode(encoded, kp_driving, kp_source, visualize=True)
        return tuple(out[name] for name in self.output_names)
