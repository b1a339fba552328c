"""One-line errors for the detector commands (extract, predict)."""

from __future__ import annotations

from datamodules.command_errors import exit_on
from datamodules.video_io import UnreadableVideoError

# What the commands raise for bad input: a missing path or layout, a bad option or table.
USER_ERRORS = (FileNotFoundError, ValueError, UnreadableVideoError)


# Print bad input as one line and exit 2 (HYDRA_FULL_ERROR=1 for the traceback).
exit_on_user_error = exit_on(*USER_ERRORS)
