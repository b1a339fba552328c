"""What the app is started with (``conf/app.yaml``), and where it writes."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from datamodules.command_errors import InputError

_REQUESTS = itertools.count()


@dataclass(frozen=True)
class AppSettings:
    """The app's settings.

    Attributes:
        runs_dir: where ``make run`` leaves its loop runs (default weights, the Loop tab).
        work_dir: where each request writes its outputs (one folder per request).
        samples_dir: where the bundled samples are drawn on first use.
        fomm_checkpoint: animation weights to use instead of the newest loop run's.
        fomm_config: the official yaml of an official ``fomm_checkpoint``.
        detector_checkpoint: detector weights to use instead of the newest loop run's.
        architecture: the official architecture of published ``.pth`` detector weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        max_upload_mb: larger uploads are refused with a message.
    """

    runs_dir: Path
    work_dir: Path
    samples_dir: Path
    fomm_checkpoint: str | None = None
    fomm_config: str | None = None
    detector_checkpoint: str | None = None
    architecture: str | None = None
    device: str = "auto"
    max_upload_mb: float = 200.0

    def request_dir(self, kind: str) -> Path:
        """A new folder for one request's outputs: ``<work_dir>/<kind>/<time>-<n>``."""
        folder = self.work_dir / kind / f"{time.strftime('%H-%M-%S')}-{next(_REQUESTS):04d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def blank(value: str | os.PathLike | None) -> bool:
    """An option left empty in the page (None, "" or only spaces)."""
    return value is None or not str(value).strip()


def chosen_weights(given: str | None, default: str, origin: str, missing: str) -> tuple[str, str]:
    """The weights a request uses and where they came from, for the page to say.

    Args:
        given: what the page's checkpoint box holds (empty: the default).
        default: the default weights ("" when there are none).
        origin: where the default came from, or why there is none.
        missing: what the message says is missing when there is nothing to use.

    Raises:
        InputError: nothing given and no default (the message says how to get weights).
    """
    if blank(given):
        if not default:
            raise InputError(f"{missing}: {origin}")
        return default, origin
    given = str(given).strip()
    return (default, origin) if given == default else (given, "given in the page")
