"""Bad input, and one-line errors for the command-line tools of every layer.

Why: a user who mistypes a path needs the path and the fix, not a page of Hydra and
PyTorch traceback. Each command says which exceptions mean bad input (their messages
name the item and the fix); anything else is a bug and keeps its traceback.
:class:`InputError` is the one bad-input type the tools of both papers and the loop raise.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from datamodules.video_io import UnreadableVideoError

_T = TypeVar("_T")


class InputError(ValueError):
    """A user-supplied file or option cannot be used; the message names it and the fix."""


def exit_on(*error_types: type[BaseException]) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Decorate a command so that ``error_types`` print as ``error: <message>`` and exit 2.

    ``HYDRA_FULL_ERROR=1`` (Hydra's own switch for full tracebacks) re-raises instead.
    """
    if not error_types:
        raise ValueError("exit_on needs at least one exception type")

    def decorate(main: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(main)
        def wrapper(*args: Any, **kwargs: Any) -> _T:
            try:
                return main(*args, **kwargs)
            except error_types as error:
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                print(f"error: {error}", file=sys.stderr)
                sys.exit(2)

        return wrapper

    return decorate


# Print an InputError as one line and exit 2; other exceptions are bugs and keep their
# traceback (HYDRA_FULL_ERROR=1 shows it for InputError too).
exit_on_input_error = exit_on(InputError)

# What the data and detector commands (extraction, prediction, previews) raise for bad
# input: a missing path or layout, a bad option or table, a video that cannot be decoded.
USER_ERRORS = (FileNotFoundError, ValueError, UnreadableVideoError)

# Print bad input as one line and exit 2 (HYDRA_FULL_ERROR=1 for the traceback).
exit_on_user_error = exit_on(*USER_ERRORS)
