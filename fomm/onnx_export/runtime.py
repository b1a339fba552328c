"""FOMM's and TPSMM's ONNX graphs behind the torch networks' interface: ``backend=onnx``.

:class:`OnnxKeypointDetector` and :class:`OnnxGenerator` are called like
:class:`fomm.nets.KPDetector` and :class:`fomm.nets.OcclusionAwareGenerator` (torch tensors
and keypoint dicts in and out), so :class:`fomm.inference.Animator` animates with
onnxruntime unchanged; :class:`OnnxTPSMM` does the same for
:class:`fomm.tpsmm.inference.TPSMMAnimator`. They are modules without parameters: the
animators find the CPU as their device, and ``.to()``/``.eval()`` are harmless.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from datamodules.command_errors import InputError
from datamodules.onnx_io import OnnxGraph, OnnxUnavailableError

BACKENDS = ("torch", "onnx")


class OnnxKeypointDetector(nn.Module):
    """``kp_detector.onnx`` called as the torch keypoint detector: image -> keypoint dict."""

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """``value`` (N, K, 2) and, where the model has them, ``jacobian`` (N, K, 2, 2)."""
        return self.graph(image=image)


class OnnxGenerator(nn.Module):
    """``generator.onnx`` called as the torch generator (``encode_source`` / ``decode``).

    The graph encodes the source itself (once per call, broadcast over the driving
    frames), so :meth:`encode_source` only keeps the image for :meth:`decode`.
    """

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph

    def encode_source(self, source_image: Tensor) -> dict[str, Tensor]:
        """What :meth:`decode` needs of the source: the image (1 or N, C, H, W)."""
        return {"image": source_image}

    def decode(
        self,
        encoded: dict[str, Tensor],
        kp_driving: dict[str, Tensor],
        kp_source: dict[str, Tensor],
        visualize: bool = True,
    ) -> dict[str, Tensor]:
        """``prediction`` (N, C, H, W) and the graph's other outputs (``deformed`` if visualize)."""
        feeds = {"source": encoded["image"]}
        for prefix, keypoints in (("kp_source", kp_source), ("kp_driving", kp_driving)):
            feeds.update({f"{prefix}_{part}": value for part, value in keypoints.items()})
        out = self.graph(**feeds)
        if not visualize:
            out.pop("deformed", None)
        return out

    def forward(
        self, source_image: Tensor, kp_driving: dict[str, Tensor], kp_source: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Animate ``source_image`` from ``kp_source`` to ``kp_driving`` (as the torch one)."""
        return self.decode(self.encode_source(source_image), kp_driving, kp_source)


class OnnxFOMM(nn.Module):
    """The two runners, with the ``config`` the torch networks carry (for the frame size)."""

    def __init__(self, folder: str | os.PathLike, config: dict, threads: int | None = None) -> None:
        super().__init__()
        folder = Path(folder)
        self.kp_detector = OnnxKeypointDetector(OnnxGraph(folder / "kp_detector.onnx", threads))
        self.generator = OnnxGenerator(OnnxGraph(folder / "generator.onnx", threads))
        self.config = config


class OnnxDenseMotion(nn.Module):
    """TPSMM's dense motion network, deferred: it hands its inputs to the fused generator.

    Why: ``generator.onnx`` computes dense motion and inpainting in one graph, while
    :class:`fomm.tpsmm.inference.TPSMMAnimator` calls the two networks in turn; this one
    passes what it is given on to :class:`OnnxInpainting`, which runs the graph.
    """

    def forward(
        self,
        source_image: Tensor,
        kp_driving: dict[str, Tensor],
        kp_source: dict[str, Tensor],
        bg_param: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """The generator graph's inputs (``bg_param`` None: no background motion)."""
        feeds = {
            "source": source_image,
            "kp_source_fg_kp": kp_source["fg_kp"],
            "kp_driving_fg_kp": kp_driving["fg_kp"],
        }
        if bg_param is not None:
            feeds["bg_param"] = bg_param
        return feeds


class OnnxInpainting(nn.Module):
    """``generator.onnx`` of TPSMM called as its inpainting network: ``prediction`` and more."""

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph
        self.background = "bg_param" in graph.input_names

    def forward(self, source_image: Tensor, dense_motion: dict[str, Tensor]) -> dict[str, Tensor]:
        """Render; a model with background motion gets the identity where none is given.

        The identity is what the official demo (and the torch animator) uses at inference.
        """
        feeds = dict(dense_motion)
        if self.background and "bg_param" not in feeds:
            batch = feeds["kp_driving_fg_kp"].shape[0]
            feeds["bg_param"] = torch.eye(3).expand(batch, 3, 3)
        return self.graph(**feeds)


class OnnxAVD(nn.Module):
    """``avd_network.onnx`` called as the torch AVD network: control points in and out."""

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(
        self, kp_source: dict[str, Tensor], kp_driving: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """The driving points with the source's identity: ``fg_kp`` (N, 5K, 2)."""
        return self.graph(kp_source_fg_kp=kp_source["fg_kp"], kp_driving_fg_kp=kp_driving["fg_kp"])


class OnnxTPSMM(nn.Module):
    """TPSMM's graphs behind the attributes :class:`~fomm.tpsmm.inference.TPSMMAnimator` uses.

    ``bg_predictor`` stays None: animation uses no background motion.
    """

    def __init__(self, folder: str | os.PathLike, config: dict, threads: int | None = None) -> None:
        super().__init__()
        folder = Path(folder)
        self.kp_detector = OnnxKeypointDetector(OnnxGraph(folder / "kp_detector.onnx", threads))
        self.dense_motion_network = OnnxDenseMotion()
        self.inpainting_network = OnnxInpainting(OnnxGraph(folder / "generator.onnx", threads))
        avd = folder / "avd_network.onnx"
        self.avd_network = OnnxAVD(OnnxGraph(avd, threads)) if avd.is_file() else None
        self.bg_predictor = None
        self.config = config


def load_onnx_fomm(folder: str | os.PathLike, threads: int | None = None) -> OnnxFOMM | OnnxTPSMM:
    """The graphs ``python -m fomm.export`` wrote to ``folder``, ready for the animators."""
    manifest = json.loads((Path(folder) / "export.json").read_text())
    runners = {"fomm": OnnxFOMM, "tpsmm": OnnxTPSMM}
    if manifest["model"] not in runners:
        raise ValueError(f"{folder} holds {manifest['model']} graphs, neither FOMM's nor TPSMM's")
    size = manifest["frame_size"]
    config = {"dataset_params": {"frame_shape": [size, size, 3]}}
    return runners[manifest["model"]](folder, config, threads)


def onnx_networks(
    networks: nn.Module, size: int, threads: int | None = None
) -> OnnxFOMM | OnnxTPSMM:
    """Export FOMM or TPSMM networks to ONNX (in a temporary folder), load them into onnxruntime."""
    from fomm.export import export_networks

    with tempfile.TemporaryDirectory(prefix="fomm-onnx-") as folder:
        export_networks(networks, folder, size)
        # The sessions hold the graphs in memory: the files may go.
        return load_onnx_fomm(folder, threads)


def animation_backend(networks: nn.Module, backend: str, size: int, precision: str) -> nn.Module:
    """The networks ``fomm.animate`` runs: as loaded (``torch``) or exported (``onnx``).

    Raises:
        InputError: an unknown backend, onnx with bf16/fp16, or onnx without
            onnxruntime installed.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend={backend} is not one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return networks
    if precision != "fp32":
        raise InputError(
            f"backend=onnx runs the exported float32 graphs; use precision=fp32 (precision="
            f"{precision} needs backend=torch)"
        )
    try:
        return onnx_networks(networks, size)
    except OnnxUnavailableError as error:
        raise InputError(str(error)) from error
