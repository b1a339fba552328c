"""One-line errors for the detector commands (extract, predict)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from datamodules.video_io import UnreadableVideoError

_T = TypeVar("_T")

# What the commands raise for bad input: a missing path or layout, a bad option or table.
USER_ERRORS = (FileNotFoundError, ValueError, UnreadableVideoError)


def exit_on_user_error(main: Callable[..., _T]) -> Callable[..., _T]:
    """Print a bad-input error as ``error: <message>`` and exit with status 2.

    Why: a user who mistypes a path needs the path and the fix, not a page of Hydra and
    PyTorch traceback. Every message names the item and the fix. Set ``HYDRA_FULL_ERROR=1``
    to get the traceback instead.
    """

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
