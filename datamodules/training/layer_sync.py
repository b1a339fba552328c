"""Synchronised batch norm under DDP that keeps the network the same network.

Lightning's ``sync_batchnorm=True`` converts with ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``,
which turns timm's ``BatchNormAct2d`` (batch norm with a fused activation, used by every
EfficientNet) into a plain ``SyncBatchNorm``: the activation disappears, the state-dict keys
stay the same, and nothing warns. A DDP run then trains a different network from the one
inference loads. Its ``revert`` builds ``_BatchNormXd`` modules, losing the activation again.

:class:`TimmSyncBatchNorm` converts with timm's own converter (``BatchNormAct2d`` to
``SyncBatchNormAct``, which keeps the activation and the drop layer; other batch norms to
``SyncBatchNorm``) and reverts to the very modules it replaced. The trainer configs that
sync batch norm name it in ``plugins`` (see ``conf/trainer/ddp.yaml``).
"""

from __future__ import annotations

import warnings
from typing import Any

from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from timm.layers import BatchNormAct2d, convert_sync_batchnorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

# Batch norms whose synchronised version computes the same thing. Any other subclass may
# override forward (as BatchNormAct2d does): converting it would change the network.
FAITHFULLY_SYNCED = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, BatchNormAct2d)
# What a batch norm's forward reads besides its tensors; carried back by revert in case
# anything changed them on the synchronised module during training.
_BATCH_NORM_SETTINGS = ("num_features", "eps", "momentum", "affine", "track_running_stats")


class TimmSyncBatchNorm(TorchSyncBatchNorm):
    """A Lightning ``LayerSync`` plugin: synchronised batch norm that keeps fused activations.

    It subclasses Lightning's ``TorchSyncBatchNorm`` because Lightning accepts a layer-sync
    plugin together with ``sync_batchnorm=True`` only then; the trainer config says both:
    ``sync_batchnorm: true`` (sync) and this plugin (how).

    Batch norms of a class outside :data:`FAITHFULLY_SYNCED` stay per process, with one
    warning naming them: a synchronised copy could not compute what they compute.

    Args:
        process_group: the group to synchronise over; None is the whole world.
    """

    def __init__(self, process_group: Any = None) -> None:
        self.process_group = process_group
        # id(synchronised module) -> (that module, the module it replaced)
        self._replaced: dict[int, tuple[nn.Module, nn.Module]] = {}

    def apply(self, model: nn.Module) -> nn.Module:
        """Replace every faithfully convertible batch norm of ``model`` by a synchronised one."""
        kept: list[str] = []
        synced = self._synced(model, "", kept)
        if kept:
            warnings.warn(
                f"sync_batchnorm: {len(kept)} batch norm(s) of a class that cannot be "
                f"synchronised without changing what it computes stay per process: "
                f"{', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}",
                stacklevel=2,
            )
        return synced

    def revert(self, model: nn.Module) -> nn.Module:
        """Put back the modules :meth:`apply` replaced, with the tensors they have now.

        The parameters and buffers come from the synchronised modules, because training
        updated them and moving the model to a device replaced the buffers; the module
        objects, classes, activations and drop layers are the original ones.
        """
        return self._unsynced(model)

    def _synced(self, module: nn.Module, path: str, kept: list[str]) -> nn.Module:
        if isinstance(module, nn.SyncBatchNorm):
            return module
        if type(module) in FAITHFULLY_SYNCED:
            synced = convert_sync_batchnorm(module, self.process_group)
            self._replaced[id(synced)] = (synced, module)
            return synced
        if isinstance(module, _BatchNorm):
            kept.append(f"{path or '<root>'} ({type(module).__name__})")
        for name, child in list(module.named_children()):
            replacement = self._synced(child, f"{path}.{name}" if path else name, kept)
            if replacement is not child:
                module.add_module(name, replacement)
        return module

    def _unsynced(self, module: nn.Module) -> nn.Module:
        entry = self._replaced.get(id(module))
        if entry is not None and entry[0] is module:
            del self._replaced[id(module)]
            original = entry[1]
            for name, parameter in module.named_parameters(recurse=False):
                original.register_parameter(name, parameter)
            for name, buffer in module.named_buffers(recurse=False):
                original.register_buffer(name, buffer)
            for setting in _BATCH_NORM_SETTINGS:
                setattr(original, setting, getattr(module, setting))
            original.training = module.training
            for name, child in module.named_children():
                original.add_module(name, self._unsynced(child))
            return original
        for name, child in list(module.named_children()):
            replacement = self._unsynced(child)
            if replacement is not child:
                module.add_module(name, replacement)
        return module
