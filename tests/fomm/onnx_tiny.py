"""Tiny FOMM and TPSMM checkpoints for the ONNX tests; graphs run by plain onnxruntime."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import yaml
from fomm_tool_media import TINY_MODEL_PARAMS
from tpsmm_tiny import tiny_params

from fomm.nets import build_networks
from fomm.tpsmm.nets.build import NETWORK_NAMES, build_tpsmm_networks


def fomm_params(jacobian: bool = True) -> dict:
    """The tiny FOMM of the tool tests, with or without Jacobians."""
    params = copy.deepcopy(TINY_MODEL_PARAMS)
    params["common_params"]["estimate_jacobian"] = jacobian
    return params


def write_lightning_checkpoint(path: Path, jacobian: bool = True, seed: int = 0) -> Path:
    """A ``.ckpt`` laid out as FOMMLitModule saves one (what ``fomm.load_fomm`` reads)."""
    torch.manual_seed(seed)
    params = fomm_params(jacobian)
    networks = build_networks(params)
    torch.save(
        {
            "pytorch-lightning_version": pl.__version__,
            "state_dict": {f"networks.{k}": v for k, v in networks.state_dict().items()},
            "hyper_parameters": {"model_params": params, "train_params": {}},
            "fomm_meta": {"frame_shape": [64, 64, 3]},
        },
        path,
    )
    return path


def write_tpsmm_checkpoint(folder: Path, bg: bool = True, multi_mask: bool = True, seed: int = 0):
    """A random TPSMM in the official layout (``*.pth.tar`` and its yaml), 64 px frames."""
    torch.manual_seed(seed)
    params = tiny_params(bg=bg, multi_mask=multi_mask)
    networks = build_tpsmm_networks(params).eval()
    for module in networks.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.8, 1.2)
    checkpoint, config = folder / "tpsmm.pth.tar", folder / "tpsmm.yaml"
    names = [name for name in NETWORK_NAMES if getattr(networks, name) is not None]
    torch.save({name: getattr(networks, name).state_dict() for name in names}, checkpoint)
    layout = {"dataset_params": {"frame_shape": [64, 64, 3]}, "model_params": params}
    config.write_text(yaml.safe_dump(layout))
    return checkpoint, config


def run_onnx(path: Path, **inputs: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
    """Run a graph with plain onnxruntime (no project code): output name -> array."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {
        name: np.asarray(value, dtype=np.float32)
        if not isinstance(value, torch.Tensor)
        else value.detach().numpy()
        for name, value in inputs.items()
    }
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def graph_names(path: Path) -> tuple[list[str], list[str]]:
    """(input names, output names) of an ONNX file."""
    import onnx

    model = onnx.load(str(path))
    return [i.name for i in model.graph.input], [o.name for o in model.graph.output]


def max_error(actual: np.ndarray, expected: np.ndarray | torch.Tensor) -> float:
    """Largest absolute difference (shapes must agree)."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max())
