"""Exported detectors behind the torch interface: ``backend=onnx`` of ``fakedetect.predict``.

:class:`OnnxDetector` is called like the networks of :mod:`fakedetect.nets` (normalised
face crops in, logits ``(N,)`` out, and ``attention`` for attention models), so
:class:`fakedetect.scoring.VideoScorer` scores with onnxruntime unchanged. Each member of
an ensemble is exported on its own, because the scorer writes every member's logits.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from datamodules.onnx_io import OnnxGraph, OnnxUnavailableError
from fakedetect.export import GRAPH, export_detector
from fakedetect.scoring import VideoScorer

log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnx")


class OnnxDetector(nn.Module):
    """``detector.onnx`` (one model) called as a torch detector: faces -> logits ``(N,)``."""

    def __init__(self, graph: OnnxGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, images: Tensor) -> Tensor:
        """One logit per face (the ensemble's mean for an ensemble graph)."""
        return self.graph(faces=images)["logits"]


class OnnxAttentionDetector(OnnxDetector):
    """An attention model's graph: also :meth:`attention`, as EfficientNetAutoAttB4 has."""

    def attention(self, images: Tensor) -> Tensor:
        """The attention map ``(N, 1, S/8, S/8)`` in [0, 1]."""
        return self.graph(faces=images)["attention"]


def load_onnx_detector(path: str | os.PathLike, threads: int | None = None) -> OnnxDetector:
    """A ``detector.onnx`` (a folder holding one, or the file) ready for onnxruntime."""
    path = Path(path)
    graph = OnnxGraph(path / GRAPH if path.is_dir() else path, threads)
    kind = OnnxAttentionDetector if "attention" in graph.output_names else OnnxDetector
    return kind(graph)


def onnx_detectors(
    models: Mapping[str, nn.Module], size: int, threads: int | None = None
) -> dict[str, OnnxDetector]:
    """Export each network (in a temporary folder) and load it into onnxruntime."""
    detectors = {}
    with tempfile.TemporaryDirectory(prefix="detector-onnx-") as folder:
        for number, (name, model) in enumerate(models.items()):
            member = Path(folder) / str(number)
            export_detector(model, member, size)
            # The session holds the graph in memory: the file may go.
            detectors[name] = load_onnx_detector(member, threads)
    return detectors


def use_backend(scorer: VideoScorer, backend: str, precision: str = "fp32") -> None:
    """Make a video scorer score with ``torch`` or ``onnx``.

    With ``onnx`` its networks are exported at its crop size and replaced by onnxruntime
    sessions, which compute in float32 (``precision=auto`` gives float32 then).

    Raises:
        ValueError: an unknown backend, ``onnx`` with ``precision=bf16``, or onnx and
            onnxruntime not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return
    if precision == "bf16":
        raise ValueError("backend=onnx scores in float32; use precision=fp32 or auto")
    try:
        scorer.models = onnx_detectors(scorer.models, scorer.settings.size)
    except OnnxUnavailableError as error:
        raise ValueError(str(error)) from error
    scorer.dtype = torch.float32
    log.info("Scoring with onnxruntime (%d threads)", torch.get_num_threads())
