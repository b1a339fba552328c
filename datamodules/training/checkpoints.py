"""Reading checkpoint files without running code from them, for both papers' loaders.

``torch.load`` with full unpickling runs whatever the file's author put in it. Published
checkpoints (FOMM's ``*.pth.tar``, the ICPR ``*.pth``) and the Lightning ``.ckpt`` files
this project writes hold only tensors and plain containers, so they load with
``weights_only=True``; a file that needs more is refused unless its user says it is
trusted (``trust_checkpoint=true`` on every command line that loads weights).
"""

from __future__ import annotations

import collections
import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

# Harmless classes that checkpoints of ours hold (MultiStepLR milestones are a Counter).
_SAFE_GLOBALS = [collections.Counter]


class UntrustedCheckpointError(ValueError):
    """The file can only be read by full unpickling, which can execute code."""


def safe_load(
    path: str | Path, trust_pickle: bool = False, map_location: Any = "cpu", mmap: bool = False
) -> Any:
    """``torch.load`` with ``weights_only=True`` first, and clear messages when that fails.

    Args:
        path: the checkpoint file.
        trust_pickle: allow full unpickling for files that need it (only for files you
            trust); command lines call it ``trust_checkpoint``.
        map_location: passed to ``torch.load``.
        mmap: map the tensors from the file instead of reading them (zip archives only;
            legacy pickles are read as usual). Why: looking at the metadata of a large
            checkpoint should not copy its weights into memory.

    Raises:
        FileNotFoundError: no such file.
        UntrustedCheckpointError: the file needs full unpickling and ``trust_pickle`` is False.
        ValueError: the file is not a PyTorch checkpoint at all.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    is_zip = zipfile.is_zipfile(path)
    if not (is_zip or _starts_like_a_pickle(path)):
        raise ValueError(
            f"{path} is not a PyTorch checkpoint file (neither a torch.save zip archive nor a "
            "pickle); pass a .ckpt, .pth or *.pth.tar file"
        )
    options = {"map_location": map_location, "mmap": mmap and is_zip}
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            return torch.load(path, weights_only=True, **options)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):
            raise ValueError(f"{path} is not a readable PyTorch checkpoint ({error})") from error
        if not trust_pickle:
            raise UntrustedCheckpointError(
                f"{path} holds Python objects beyond tensors and plain containers, and loading "
                "it would run arbitrary code from the file. Published checkpoints and those "
                "trained here do not need this. If you trust the file, pass "
                "trust_checkpoint=true."
            ) from error
        log.warning("Loading %s with full unpickling (trust_checkpoint=true)", path)
        return torch.load(path, weights_only=False, **options)
    except (RuntimeError, EOFError, OSError) as error:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({error})") from error


def _starts_like_a_pickle(path: Path) -> bool:
    """A legacy ``torch.save`` pickle starts with the protocol byte 0x80."""
    with path.open("rb") as handle:
        return handle.read(1) == b"\x80"
