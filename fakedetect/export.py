r"""Export a deepfake detector, or an ensemble, to ONNX: ``python -m fakedetect.export``.

Examples::

    python -m fakedetect.export checkpoint=logs/train/runs/<run>/checkpoints/last.ckpt \
        output=onnx/det
    python -m fakedetect.export checkpoint=EfficientNetAutoAttB4_DFDC.pth \
        architecture=EfficientNetAutoAttB4 output=onnx/icpr
    python -m fakedetect.export checkpoint=[a.ckpt,EfficientNetB4_DFDC.pth] output=onnx/ensemble

Writes ``DIR/detector.onnx`` (input ``faces``: face crops fitted to ``size`` and
normalised with the ImageNet mean and std, dynamic batch; outputs ``logits``, then
``member_logits`` for an ensemble and ``attention`` for attention models) and
``DIR/export.json`` (sizes, normalisation, member names). docs/export.md has the details.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from datamodules.command_errors import USER_ERRORS, exit_on
from datamodules.face_transform import IMAGENET_MEAN, IMAGENET_STD
from datamodules.onnx_io import OPSET, OnnxUnavailableError, export_graph
from fakedetect.onnx_graph import DetectorGraph
from fakedetect.scoring import checkpoint_specs
from fakedetect.weights import load_detector

GRAPH = "detector.onnx"
MANIFEST = "export.json"
# Faces in the example batch the graph is traced with (the batch stays dynamic).
TRACE_BATCH = 2


def load_members(
    checkpoint: str | os.PathLike | Mapping | Sequence,
    architecture: str | None = None,
    trust_checkpoint: bool = False,
) -> dict[str, nn.Module]:
    """Load one detector or an ensemble's members, named as ``fakedetect.predict`` names them."""
    return {
        spec["name"]: load_detector(spec["path"], spec["architecture"], trust_checkpoint)
        for spec in checkpoint_specs(checkpoint, architecture)
    }


def export_detector(
    members: Mapping[str, nn.Module] | nn.Module, output: str | os.PathLike, size: int = 224
) -> dict[str, Any]:
    """Write ``detector.onnx`` and ``export.json`` into ``output``; returns the manifest.

    Args:
        members: one network, or named networks (an ensemble averaging their logits).
        output: the folder.
        size: the side of the face crops the graph takes (the one the models were trained
            with: 224 in the paper, ``data.image_size`` in training).
    """
    named = dict(members) if isinstance(members, Mapping) else {"detector": members}
    if int(size) < 32:
        raise ValueError(f"size={size} is too small for the detectors' strides; use >= 32")
    graph = DetectorGraph(list(named.values()))
    faces = torch.randn(
        TRACE_BATCH, 3, int(size), int(size), generator=torch.Generator().manual_seed(0)
    )
    output = Path(output)
    export_graph(graph, [faces], output / GRAPH, ["faces"], graph.output_names)
    manifest = {
        "graph": GRAPH,
        "input_size": int(size),
        "inputs": {"faces": ["batch", 3, int(size), int(size)]},
        "outputs": graph.output_names,
        "members": list(named),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "opset": OPSET,
    }
    (output / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


@hydra.main(version_base="1.3", config_path="../conf", config_name="export_detector")
@exit_on(*USER_ERRORS, OnnxUnavailableError)
def main(cfg: DictConfig) -> None:
    """``python -m fakedetect.export checkpoint=PATH [architecture=...] output=DIR``."""
    if not cfg.get("checkpoint") or not cfg.get("output"):
        raise ValueError("Give checkpoint=PATH (or a list of them for an ensemble) and output=DIR.")
    checkpoint = cfg.checkpoint
    if OmegaConf.is_config(checkpoint):
        checkpoint = OmegaConf.to_container(checkpoint, resolve=True)
    members = load_members(checkpoint, cfg.architecture, cfg.trust_checkpoint)
    manifest = export_detector(members, cfg.output, cfg.size)
    print(
        f"{Path(cfg.output) / GRAPH}: input faces (N, 3, {manifest['input_size']}, "
        f"{manifest['input_size']}); outputs {', '.join(manifest['outputs'])}; "
        f"members {', '.join(manifest['members'])}"
    )


if __name__ == "__main__":
    main()
