"""The animation models the Animate tab offers: one entry each.

Each entry says how to load its weights and how to animate with them, both the model's
own functions (nothing is reimplemented here), and which loop stage trains it (whose
newest checkpoint is its default). Both motion models load and animate through the same
functions of the animation package (:func:`fomm.media.load_model` recognises either);
a new model is one more :class:`AnimationModel` in :data:`ANIMATION_MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fomm.animate import AnimationResult, animate_files
from fomm.media import load_model


@dataclass(frozen=True)
class AnimationModel:
    """One choice of the model dropdown.

    Attributes:
        name: what the page shows.
        load: ``(checkpoint, config, device) -> networks``; raises
            :class:`~datamodules.command_errors.InputError` for unusable weights.
        animate: ``(source_image, driving_video, output, networks=..., **options)`` ->
            :class:`~fomm.animate.AnimationResult`, with the options of
            :func:`fomm.animate.animate_files`.
        loop_stage: the loop stage whose checkpoint is the default, or None.
        weights_help: what weights it takes, for the page.
    """

    name: str
    load: Callable[..., torch.nn.Module]
    animate: Callable[..., AnimationResult]
    loop_stage: str | None
    weights_help: str


ANIMATION_MODELS: tuple[AnimationModel, ...] = (
    AnimationModel(
        name="FOMM",
        load=load_model,
        animate=animate_files,
        loop_stage="fomm",
        weights_help="a `.ckpt` trained here, or an official `*.pth.tar` with its yaml config",
    ),
    AnimationModel(
        name="TPSMM",
        load=load_model,
        animate=animate_files,
        loop_stage="tpsmm",
        weights_help=(
            "a `.ckpt` trained here (`python -m loop motion_model=tpsmm`), or an official "
            "`*.pth.tar` with its yaml config; motion `avd` needs a trained AVD network"
        ),
    ),
)


def animation_model(name: str) -> AnimationModel:
    """The entry called ``name``.

    Raises:
        ValueError: no such model (the message lists the choices).
    """
    for model in ANIMATION_MODELS:
        if model.name == name:
            return model
    choices = ", ".join(m.name for m in ANIMATION_MODELS)
    raise ValueError(f"Unknown animation model {name!r}; choose one of {choices}.")


class LoadedNetworks:
    """The last weights loaded, kept while the next request uses the same ones.

    Why: loading the official vox weights takes seconds; a person trying options on one
    portrait should not pay that on every click.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._networks: torch.nn.Module | None = None

    def get(
        self, model: AnimationModel, checkpoint: str, config: str | None, device: str
    ) -> torch.nn.Module:
        """The networks of ``checkpoint``, loaded on first use."""
        key = (model.name, checkpoint, config, device)
        if key != self._key or self._networks is None:
            self._networks = None  # free the previous weights before loading the next
            self._networks = model.load(checkpoint, config, device)
            self._key = key
        return self._networks
