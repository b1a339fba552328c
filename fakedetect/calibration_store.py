"""Where a detector's calibration is kept: inside our checkpoints, beside any other weights.

- A ``.ckpt`` trained here carries it under the top-level key ``calibration`` (written by
  :class:`fakedetect.calibration_callback.ValidationCalibration` when the checkpoint is
  saved right after the validation it was fitted on).
- Any weights file (the paper's ``.pth``, or a ``.ckpt`` calibrated afterwards by
  ``python -m fakedetect.calibrate``) can have a sidecar ``<file>.calibration.json``
  holding the same record plus the SHA-256 of the weights it belongs to. The sidecar wins
  over the checkpoint's own record (it is the later, explicit one); a sidecar whose digest
  no longer matches the file is ignored with a warning, so replaced weights never inherit
  a stale calibration.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from datamodules.training.checkpoints import safe_load
from fakedetect.calibration import Calibration

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "calibration"
SIDECAR_SUFFIX = ".calibration.json"
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) within the process."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def sidecar_path(weights: str | os.PathLike) -> Path:
    """``<weights>.calibration.json``."""
    return Path(f"{weights}{SIDECAR_SUFFIX}")


def write_sidecar(weights: str | os.PathLike, calibration: Calibration) -> Path:
    """Write ``calibration`` beside ``weights`` (atomically), tied to the file's digest."""
    path = sidecar_path(weights)
    record = {
        "weights": Path(weights).name,
        "weights_sha256": file_digest(weights),
        **calibration.to_dict(),
    }
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=2))
    os.replace(temporary, path)
    return path


def _read_sidecar(weights: Path) -> Calibration | None:
    path = sidecar_path(weights)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        calibration = Calibration.from_dict(record)
    except (json.JSONDecodeError, ValueError, TypeError) as error:
        raise ValueError(
            f"{path} is not a readable calibration ({error}); delete it or run "
            f"python -m fakedetect.calibrate checkpoint={weights} again."
        ) from error
    if record.get("weights_sha256") != file_digest(weights):
        log.warning(
            "Ignoring %s: it was fitted for other weights than %s (rerun fakedetect.calibrate).",
            path,
            weights,
        )
        return None
    return calibration


def read_calibration(
    weights: str | os.PathLike, trust_checkpoint: bool = False
) -> Calibration | None:
    """The calibration stored for a weights file, or None when it has none.

    Args:
        weights: our ``.ckpt`` or any other weights file.
        trust_checkpoint: allow a ``.ckpt`` that needs full unpickling (see
            :func:`datamodules.training.checkpoints.safe_load`).

    Raises:
        FileNotFoundError: ``weights`` does not exist.
        ValueError: a sidecar or checkpoint record that cannot be read.
    """
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"Detector weights {weights} do not exist.")
    calibration = _read_sidecar(weights)
    if calibration is not None or weights.suffix != ".ckpt":
        return calibration
    # Mapped, not read: only the small record is needed, not the weights.
    content = safe_load(weights, trust_pickle=trust_checkpoint, mmap=True)
    record = content.get(CHECKPOINT_KEY) if isinstance(content, dict) else None
    return Calibration.from_dict(record) if record else None


def describe(calibration: Calibration | None) -> str:
    """One line for logs and tables: the map and where it was fitted."""
    if calibration is None:
        return "none"
    scale = (
        f"T={calibration.temperature:.3g}"
        if calibration.method == "temperature"
        else f"slope {calibration.slope:.3g}, bias {calibration.bias:+.3g}"
    )
    return (
        f"{calibration.method} ({scale}; {calibration.level} level, fitted on "
        f"{calibration.fitted_on}, {calibration.samples} samples)"
    )
