"""LightningModules of the detector: binary training, triplet-then-head training, ensembles.

The paper's recipes are counted in optimizer steps with a validation every N
steps, so here one Lightning epoch *is* one validation interval: each module
tells the DataModule, through ``train_sampling``, how many batches (and of what
kind) its next epoch has. Plateau schedulers step on each validation, and the
modules stop the run themselves when their step budget is spent or the learning
rate has reached its floor, as the official code does.
"""

from fakedetect.module.base import DetectorModuleBase
from fakedetect.module.binary import BinaryDetectorModule
from fakedetect.module.ensemble import EnsembleDetectorModule
from fakedetect.module.siamese import SiameseDetectorModule

__all__ = [
    "BinaryDetectorModule",
    "DetectorModuleBase",
    "EnsembleDetectorModule",
    "SiameseDetectorModule",
]
