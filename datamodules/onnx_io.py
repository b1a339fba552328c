"""Writing ONNX graphs and running them with onnxruntime: what both papers' exporters share.

The exporter is PyTorch's TorchScript-based one (``torch.onnx.export(dynamo=False)``).
Why not the ``torch.export``-based default (``dynamo=True``): with torch 2.14 it needs the
extra ``onnxscript`` package, took 20 s instead of 1 s for the small FOMM generator, and
stops at data-dependent Python checks in the networks (the anti-aliased downscale asks
``torch.allclose`` whether its stored kernel is separable) unless they were run first.
Every graph here has fixed spatial sizes and one dynamic axis, the batch; the Python
branches in the networks depend on the config and the spatial sizes only, which is
exactly what tracing records faithfully. The tests export each graph once and run it at
two batch sizes against the torch networks, so a branch that tracing froze wrongly fails.

Opset 17: ``GridSample`` (FOMM's and TPSMM's warps) exists from opset 16, and 17 is
supported by every onnxruntime of the last years (the TorchScript exporter stops at 20).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor, nn

OPSET = 17
INSTALL_HINT = "pip install -e '.[export]' (the onnx and onnxruntime packages)"


class OnnxUnavailableError(RuntimeError):
    """onnx or onnxruntime is not installed; the message says how to install them."""


def require_onnx() -> tuple[ModuleType, ModuleType]:
    """Import ``onnx`` and ``onnxruntime``, or say how to install them.

    Raises:
        OnnxUnavailableError: either package is missing.
    """
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise OnnxUnavailableError(
            f"ONNX export and backend=onnx need {error.name}, which is not installed: "
            f"{INSTALL_HINT}"
        ) from error
    return onnx, onnxruntime


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run ``module`` in eval mode without gradients, then give every submodule its mode back.

    Why: the exporter restores the mode of the wrapper it was given onto all children, so
    a fresh (training-mode) wrapper would leave the caller's networks in training mode,
    where batch norm changes its statistics at the next call.
    """
    modes = {child: child.training for child in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        for child, training in modes.items():
            child.training = training


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence what tracing says about every graph here, and nothing else.

    Why: the tracer warns wherever a shape becomes a Python number (the fixed spatial
    sizes, and branches on them) and the exporter announces its own deprecation and the
    slices it cannot fold; dozens of lines per graph that say nothing about this graph.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=".*TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="Constant folding")
        warnings.filterwarnings("ignore", message=".*operator 'instance_norm' is set to train")
        yield


def export_graph(
    graph: nn.Module,
    inputs: Sequence[Tensor],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    batch_axes: Mapping[str, str] | None = None,
) -> Path:
    """Trace ``graph`` on ``inputs``, write it to ``path`` and check it with ``onnx.checker``.

    Args:
        graph: a module taking the inputs in order and returning a tuple of tensors.
        inputs: example inputs; their batch size must be one the graph will see again
            only by chance (tracing records shapes, the tests try others).
        path: the ``.onnx`` file to write (its folder is created).
        input_names: one name per input.
        output_names: one name per output.
        batch_axes: the name of axis 0 of each input and output; ``batch`` for those not
            named. Inputs that may have batch 1 while the others have N (one source for
            N driving frames) get their own name.

    Returns:
        The written path.

    Raises:
        OnnxUnavailableError: onnx or onnxruntime is missing.
    """
    onnx, _ = require_onnx()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = {**dict.fromkeys([*input_names, *output_names], "batch"), **dict(batch_axes or {})}
    with eval_mode(graph), _quiet_tracing():
        torch.onnx.export(
            graph,
            tuple(inputs),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes={name: {0: axis} for name, axis in names.items()},
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path), full_check=True)
    return path


class OnnxGraph:
    """An onnxruntime session on the CPU, called by input name with torch tensors.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads; None takes torch's (``torch.get_num_threads()``), so
            both runtimes get the same share of the machine.

    Attributes:
        input_names: the graph's inputs, in order.
        output_names: its outputs, in order.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        _, onnxruntime = require_onnx()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [node.name for node in self.session.get_inputs()]
        self.output_names = [node.name for node in self.session.get_outputs()]

    def __call__(self, **inputs: Tensor) -> dict[str, Tensor]:
        """Run the graph; returns every output by name, as float32 CPU tensors.

        Raises:
            ValueError: an input of the graph is not given.
        """
        missing = [name for name in self.input_names if name not in inputs]
        if missing:
            raise ValueError(f"{self.path.name} needs the inputs {missing}")
        feeds = {
            name: inputs[name].detach().to("cpu", torch.float32).contiguous().numpy()
            for name in self.input_names
        }
        outputs = self.session.run(None, feeds)
        return {
            name: torch.from_numpy(value)
            for name, value in zip(self.output_names, outputs, strict=True)
        }
