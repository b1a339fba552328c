r"""Export an FOMM or TPSMM checkpoint to ONNX: ``python -m fomm.export``.

Example::

    python -m fomm.export checkpoint=vox-cpk.pth.tar config=vox-256.yaml output=onnx/vox
    python -m fomm.export checkpoint=logs/train/runs/<run>/checkpoints/last.ckpt output=onnx/mine

FOMM gives ``kp_detector.onnx`` and ``generator.onnx``; TPSMM ``kp_detector.onnx``,
``generator.onnx`` (dense motion and inpainting in one graph) and, where the checkpoint
has them, ``bg_predictor.onnx`` and ``avd_network.onnx``. Every graph has a dynamic batch
axis and fixed frame size; ``export.json`` beside them lists each graph's inputs and
outputs, the frame size and the opset. docs/export.md describes the graphs and how to run
them with onnxruntime alone.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from datamodules.command_errors import InputError, exit_on
from datamodules.onnx_io import OPSET, OnnxUnavailableError, eval_mode, export_graph
from fomm.media import load_model, model_frame_size
from fomm.onnx_export.graphs import GeneratorGraph, KeypointGraph, has_jacobian
from fomm.onnx_export.linear_solve import EliminationSolve
from fomm.onnx_export.tpsmm_graphs import (
    AVDGraph,
    BackgroundGraph,
    TPSMMGeneratorGraph,
    TPSMMKeypointGraph,
)

log = logging.getLogger(__name__)
# The example batch the graphs are traced with: two driving frames for one source, so the
# broadcast of the source is traced as it will run (the batch itself stays dynamic).
TRACE_BATCH = 2
MANIFEST = "export.json"


def _write(
    graph: nn.Module,
    inputs: Sequence[Tensor],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    source_inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Export one graph; returns its manifest entry: input shapes (batch axis named), outputs."""
    axes = dict.fromkeys(source_inputs, "source_batch")
    export_graph(graph, inputs, path, input_names, output_names, axes)
    shapes = {
        name: [axes.get(name, "batch"), *value.shape[1:]]
        for name, value in zip(input_names, inputs, strict=True)
    }
    return {"inputs": shapes, "outputs": list(output_names)}


def _images(channels: int, size: int, batch: int) -> Tensor:
    generator = torch.Generator().manual_seed(batch)
    return torch.rand(batch, channels, size, size, generator=generator)


def export_fomm(networks: nn.Module, output: str | os.PathLike, size: int) -> dict[str, Any]:
    """Write ``kp_detector.onnx`` and ``generator.onnx`` of FOMM networks into ``output``.

    Args:
        networks: :class:`fomm.nets.FOMMNetworks` (eval mode is set for the export only).
        output: the folder.
        size: the frame side the graphs take.

    Returns:
        The manifest: per graph file, its inputs (with the traced example shapes, batch
        first) and outputs.
    """
    output = Path(output)
    jacobian = has_jacobian(networks.kp_detector)
    channels = networks.generator.num_channels
    source, driving = _images(channels, size, 1), _images(channels, size, TRACE_BATCH)
    keypoints = KeypointGraph(networks.kp_detector)
    graphs = {
        "kp_detector.onnx": _write(
            keypoints, [driving], output / "kp_detector.onnx", ["image"], keypoints.output_names
        )
    }
    generator = GeneratorGraph(networks.generator, jacobian)
    with eval_mode(keypoints):
        kp_source, kp_driving = keypoints(source), keypoints(driving)
    graphs["generator.onnx"] = _write(
        generator,
        [source, *kp_source, *kp_driving],
        output / "generator.onnx",
        generator.input_names,
        generator.output_names,
        source_inputs=[n for n in generator.input_names if not n.startswith("kp_driving")],
    )
    return graphs


def export_tpsmm(networks: nn.Module, output: str | os.PathLike, size: int) -> dict[str, Any]:
    """Write the TPSMM graphs into ``output`` (see the module docstring); returns the manifest."""
    output = Path(output)
    channels = networks.inpainting_network.num_channels
    source, driving = _images(channels, size, 1), _images(channels, size, TRACE_BATCH)
    keypoints = TPSMMKeypointGraph(networks.kp_detector)
    names = ["kp_source_fg_kp", "kp_driving_fg_kp"]
    graphs = {
        "kp_detector.onnx": _write(
            keypoints, [driving], output / "kp_detector.onnx", ["image"], keypoints.output_names
        )
    }
    with eval_mode(keypoints):
        (kp_source,), (kp_driving,) = keypoints(source), keypoints(driving)
    background = networks.bg_predictor is not None
    inputs = [source, kp_source, kp_driving]
    if background:
        bg_graph = BackgroundGraph(networks.bg_predictor)
        graphs["bg_predictor.onnx"] = _write(
            bg_graph,
            [source, driving],
            output / "bg_predictor.onnx",
            bg_graph.input_names,
            bg_graph.output_names,
            source_inputs=["source"],
        )
        inputs.append(torch.eye(3).expand(TRACE_BATCH, 3, 3))
    generator = TPSMMGeneratorGraph(
        networks.dense_motion_network, networks.inpainting_network, background
    )
    with EliminationSolve():
        graphs["generator.onnx"] = _write(
            generator,
            inputs,
            output / "generator.onnx",
            generator.input_names,
            generator.output_names,
            source_inputs=["source", names[0]],
        )
    if networks.avd_network is not None:
        graphs["avd_network.onnx"] = _write(
            AVDGraph(networks.avd_network),
            [kp_source, kp_driving],
            output / "avd_network.onnx",
            names,
            AVDGraph.output_names,
            source_inputs=names[:1],
        )
    return graphs


def is_tpsmm(networks: nn.Module) -> bool:
    """Whether loaded networks are TPSMM's (they have an inpainting network)."""
    return hasattr(networks, "inpainting_network")


def export_networks(
    networks: nn.Module, output: str | os.PathLike, size: int | None = None
) -> dict[str, Any]:
    """Export FOMM or TPSMM networks and write ``export.json``; returns that manifest.

    Args:
        networks: from :func:`fomm.load_fomm` or :func:`fomm.load_official_checkpoint`.
        output: the folder to write.
        size: frame side; None takes the model's (its config's ``frame_shape``, else 256).
    """
    size = int(size or model_frame_size(networks))
    output = Path(output)
    model = "tpsmm" if is_tpsmm(networks) else "fomm"
    export = export_tpsmm if model == "tpsmm" else export_fomm
    manifest = {"model": model, "frame_size": size, "opset": OPSET}
    manifest["graphs"] = export(networks, output, size)
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@hydra.main(version_base="1.3", config_path="../conf", config_name="export_fomm")
@exit_on(InputError, OnnxUnavailableError)
def main(cfg: DictConfig) -> None:
    """``python -m fomm.export checkpoint=... [config=...] output=DIR``."""
    if cfg.output in (None, ""):
        raise InputError("no output given; pass output=DIR (the folder for the .onnx files)")
    networks = load_model(cfg.checkpoint, cfg.config, "cpu", trust_pickle=cfg.trust_checkpoint)
    manifest = export_networks(networks, cfg.output, cfg.size)
    for name, graph in manifest["graphs"].items():
        print(
            f"{Path(cfg.output) / name}: inputs {', '.join(graph['inputs'])}; "
            f"outputs {', '.join(graph['outputs'])}"
        )
    print(f"{manifest['model']} at {manifest['frame_size']} px, opset {manifest['opset']}")


if __name__ == "__main__":
    main()
