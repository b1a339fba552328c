"""The official TPSMM ``train_params`` and ``train_avd_params``: checked, and their optimizers.

Why apart from the LightningModules: the keys, Adam's settings and the gradient clipping
are the official recipe's (``train.py`` and ``train_avd.py`` of the original code), shared
by both training stages, the configs' tests and the step benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

# The train_params entries the TPSMM step reads (the rest are trainer/data options).
TRAIN_PARAMS_KEYS = (
    "epoch_milestones",
    "lr_generator",
    "scales",
    "dropout_epoch",
    "dropout_maxp",
    "dropout_startp",
    "dropout_inc_epoch",
    "bg_start",
    "transform_params",
    "loss_weights",
)
LOSS_WEIGHT_KEYS = ("perceptual", "equivariance_value", "warp_loss", "bg")
AVD_PARAMS_KEYS = ("epoch_milestones", "lr", "lambda_shift", "random_scale")
# The original clips the gradients of the keypoint detector, the dense motion network and
# (from bg_start) the background predictor to this infinity norm before every step.
GRAD_CLIP_MAX_NORM = 10.0
ADAM_BETAS = (0.5, 0.999)
# The main stage's Adam has weight decay (train.py); the AVD stage's has none (train_avd.py).
WEIGHT_DECAY = 1e-4


def make_adam(
    parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
) -> torch.optim.Adam:
    """Adam with the original's betas, fused into one kernel where the devices allow."""
    parameters = list(parameters)
    devices = {p.device.type for p in parameters}
    fused = len(devices) == 1 and devices <= {"cpu", "cuda"}
    return torch.optim.Adam(
        parameters, lr=lr, betas=ADAM_BETAS, weight_decay=weight_decay, fused=fused or None
    )


def clip_infinity_norm(parameters: Iterable[torch.nn.Parameter], scale: float = 1.0) -> None:
    """Clip gradients to the original's max infinity norm; ``scale``: the gradients' AMP scale.

    Why the scale: an optimizer that unscales inside its step (fused Adam) still holds
    gradients multiplied by the gradient scaler's scale here; clipping those at
    ``GRAD_CLIP_MAX_NORM * scale`` equals clipping the true gradients at the max norm.
    """
    torch.nn.utils.clip_grad_norm_(
        list(parameters), max_norm=GRAD_CLIP_MAX_NORM * scale, norm_type=math.inf
    )


def _missing(section: dict[str, Any], keys: Iterable[str]) -> list[str]:
    return [k for k in keys if k not in section]


def check_train_params(train_params: dict[str, Any]) -> None:
    """Refuse ``train_params`` without an entry the step reads, naming it.

    Raises:
        ValueError: a key is missing, or a dropout setting is out of range.
    """
    missing = _missing(train_params, TRAIN_PARAMS_KEYS)
    if missing:
        raise ValueError(
            f"model.train_params lacks {missing}; see conf/model/tpsmm.yaml for the full set "
            "(the official config/*.yaml train_params of the Thin-Plate-Spline Motion Model)"
        )
    missing = _missing(train_params["loss_weights"], LOSS_WEIGHT_KEYS)
    if missing:
        raise ValueError(f"model.train_params.loss_weights lacks {missing}")
    if "sigma_affine" not in train_params["transform_params"]:
        raise ValueError("model.train_params.transform_params needs sigma_affine")
    if int(train_params["dropout_inc_epoch"]) <= 0:
        raise ValueError(
            "model.train_params.dropout_inc_epoch must be positive, got "
            f"{train_params['dropout_inc_epoch']}"
        )
    if not 0 <= float(train_params["dropout_maxp"]) < 1:
        raise ValueError(
            f"model.train_params.dropout_maxp must be in [0, 1), got {train_params['dropout_maxp']}"
        )


def check_avd_params(train_avd_params: dict[str, Any]) -> None:
    """Refuse ``train_avd_params`` without an entry the AVD step reads, naming it."""
    missing = _missing(train_avd_params, AVD_PARAMS_KEYS)
    if missing:
        raise ValueError(
            f"model.train_avd_params lacks {missing}; see conf/model/tpsmm_avd.yaml "
            "(the official train_avd_params)"
        )
