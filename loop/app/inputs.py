"""Uploads and errors: every bad input becomes one message in the page, never a traceback.

Gradio shows a :class:`gradio.Error` raised by an event handler as a message in the page
and keeps serving; :func:`page_errors` turns the project's bad-input errors into one,
and anything unexpected into one that says the details are in the server log (where the
traceback goes), so a bug in one request never takes the server down.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import cv2
import gradio as gr

from datamodules.command_errors import USER_ERRORS
from datamodules.video_io import probe_video, video_kind

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def page_errors(handler: Callable[..., _T]) -> Callable[..., _T]:
    """Show ``handler``'s failures as a message in the page (see the module docstring)."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except (*USER_ERRORS, OSError) as error:
            log.info("%s refused its input: %s", handler.__name__, error)
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:
            log.exception("%s failed", handler.__name__)
            raise gr.Error(
                f"Unexpected {type(error).__name__}: {error}. The server log has the details; "
                "the page keeps working for other inputs.",
                print_exception=False,
            ) from None

    return wrapper


def _check_size(path: Path, what: str, max_mb: float) -> None:
    megabytes = path.stat().st_size / 2**20
    if megabytes > max_mb:
        raise gr.Error(
            f"The {what} is {megabytes:.0f} MB, more than this app takes ({max_mb:g} MB): "
            f"cut it shorter or raise max_upload_mb when starting the app.",
            print_exception=False,
        )


def _existing(path: str | os.PathLike | None, what: str, how: str) -> Path:
    if path in (None, ""):
        raise gr.Error(f"No {what} given: {how}.", print_exception=False)
    file = Path(path)
    if not file.is_file():
        raise gr.Error(f"The {what} {file} does not exist.", print_exception=False)
    return file


def check_video(path: str | os.PathLike | None, what: str, max_mb: float) -> Path:
    """The uploaded video, once it is known to be small enough and decodable.

    Raises:
        gradio.Error: no file, too large, not a video, corrupt, or without frames.
    """
    file = _existing(path, what, "upload one or pick a sample")
    _check_size(file, what, max_mb)
    if video_kind(file) == "strip":  # datasets store clips as image strips; uploads do not
        raise gr.Error(
            f"The {what} ({file.name}) is an image, not a video: upload an mp4, mov, avi, "
            "mkv, webm or gif.",
            print_exception=False,
        )
    meta = probe_video(file)
    if meta.error or meta.num_frames == 0:
        reason = meta.error or "it holds no frames"
        raise gr.Error(
            f"The {what} ({file.name}) cannot be read as a video: {reason}. Upload an mp4, "
            "mov, avi, mkv, webm or gif that plays.",
            print_exception=False,
        )
    return file


def check_image(path: str | os.PathLike | None, what: str, max_mb: float) -> Path:
    """The uploaded image, once it is known to be small enough and decodable.

    Raises:
        gradio.Error: no file, too large, or not an image OpenCV decodes.
    """
    file = _existing(path, what, "upload one or pick the sample")
    _check_size(file, what, max_mb)
    if cv2.imread(str(file), cv2.IMREAD_UNCHANGED) is None:
        raise gr.Error(
            f"The {what} ({file.name}) is not an image this app can read: upload a PNG or JPEG.",
            print_exception=False,
        )
    return file
