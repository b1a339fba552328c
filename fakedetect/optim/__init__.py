"""Optimizers and schedules the detector recipes need beyond torch's own."""

from fakedetect.optim.sam import SAM
from fakedetect.optim.schedules import linear_decay_after

__all__ = ["SAM", "linear_decay_after"]
