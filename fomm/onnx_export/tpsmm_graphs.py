"""The Thin-Plate-Spline Motion Model's networks as ONNX-ready modules.

TPSMM's dense motion and inpainting networks always run together at inference, so they
become one generator graph, as FOMM's generator is one. Export them inside
:class:`fomm.onnx_export.linear_solve.EliminationSolve` (the spline fit solves linear
systems; :func:`fomm.export.export_tpsmm` does it).
"""

from __future__ import annotations

from torch import Tensor, nn

# What the generator graph returns after ``prediction``, before the occlusion masks.
GENERATOR_EXTRAS = ("deformed", "deformation", "contribution_maps")


def _broadcast(value: Tensor, batch: Tensor | int) -> Tensor:
    """Batch 1 (one source) or ``batch`` to ``batch``."""
    return value.expand(batch, *value.shape[1:])


class TPSMMKeypointGraph(nn.Module):
    """``image`` (N, 3, H, W) in [0, 1] -> ``fg_kp`` (N, 5K, 2) control points."""

    output_names = ("fg_kp",)

    def __init__(self, kp_detector: nn.Module) -> None:
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image: Tensor) -> tuple[Tensor]:  # noqa: D102
        return (self.kp_detector(image)["fg_kp"],)


class TPSMMGeneratorGraph(nn.Module):
    """Dense motion, then inpainting: the source rendered at the driving control points.

    Inputs, in order: ``source`` (S, 3, H, W), ``kp_source_fg_kp`` (S, 5K, 2),
    ``kp_driving_fg_kp`` (N, 5K, 2) and, for models with a background predictor,
    ``bg_param`` (N, 3, 3) (the identity reproduces the official demo, which uses no
    background motion at inference); S = N or S = 1. Outputs: ``prediction``,
    ``deformed``, ``deformation``, ``contribution_maps``, ``occlusion_map_0`` ... (coarse
    to fine; one without ``multi_mask``).
    """

    def __init__(
        self, dense_motion_network: nn.Module, inpainting_network: nn.Module, background: bool
    ) -> None:
        super().__init__()
        self.dense_motion_network = dense_motion_network
        self.inpainting_network = inpainting_network
        self.background = background
        self.input_names = ["source", "kp_source_fg_kp", "kp_driving_fg_kp"]
        if background:
            self.input_names.append("bg_param")
        masks = 4 if dense_motion_network.multi_mask else 1
        self.output_names = [
            "prediction",
            *GENERATOR_EXTRAS,
            *(f"occlusion_map_{i}" for i in range(masks)),
        ]

    def forward(
        self,
        source: Tensor,
        kp_source: Tensor,
        kp_driving: Tensor,
        bg_param: Tensor | None = None,
    ) -> tuple[Tensor, ...]:
        """The outputs named by ``output_names``, in that order."""
        batch = kp_driving.shape[0]
        source = _broadcast(source, batch)
        motion = self.dense_motion_network(
            source_image=source,
            kp_driving={"fg_kp": kp_driving},
            kp_source={"fg_kp": _broadcast(kp_source, batch)},
            bg_param=bg_param,
        )
        out = self.inpainting_network(source, motion)
        return (
            out["prediction"],
            out["deformed"],
            motion["deformation"],
            motion["contribution_maps"],
            *motion["occlusion_map"],
        )


class BackgroundGraph(nn.Module):
    """``source`` (S, 3, H, W), ``driving`` (N, 3, H, W) -> ``bg_param`` (N, 3, 3)."""

    input_names = ("source", "driving")
    output_names = ("bg_param",)

    def __init__(self, bg_predictor: nn.Module) -> None:
        super().__init__()
        self.bg_predictor = bg_predictor

    def forward(self, source: Tensor, driving: Tensor) -> tuple[Tensor]:  # noqa: D102
        return (self.bg_predictor(_broadcast(source, driving.shape[0]), driving),)


class AVDGraph(nn.Module):
    """``kp_source_fg_kp`` (S, 5K, 2), ``kp_driving_fg_kp`` (N, 5K, 2) -> ``fg_kp`` (N, 5K, 2)."""

    input_names = ("kp_source_fg_kp", "kp_driving_fg_kp")
    output_names = ("fg_kp",)

    def __init__(self, avd_network: nn.Module) -> None:
        super().__init__()
        self.avd_network = avd_network

    def forward(self, kp_source: Tensor, kp_driving: Tensor) -> tuple[Tensor]:  # noqa: D102
        return (self.avd_network({"fg_kp": kp_source}, {"fg_kp": kp_driving})["fg_kp"],)
