"""The official FOMM configs, transcribed from AliaksandrSiarohin/first-order-model config/*.yaml.

Sources: config/vox-256.yaml, vox-adv-256.yaml, nemo-256.yaml at commit 8b16d29;
taichi-256.yaml, taichi-adv-256.yaml, mgif-256.yaml, bair-256.yaml, fashion-256.yaml at
commit f220729. Only the values that differ between configs are listed per config; the
rest (COMMON) is identical in all eight. Flags absent from a file (sn, use_kp,
single_jacobian_map) default to False in the original modules.
"""

from __future__ import annotations

import copy

COMMON = {
    "model_params": {
        "common_params": {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True},
        "kp_detector_params": {
            "temperature": 0.1,
            "block_expansion": 32,
            "max_features": 1024,
            "scale_factor": 0.25,
            "num_blocks": 5,
        },
        "generator_params": {
            "block_expansion": 64,
            "max_features": 512,
            "num_down_blocks": 2,
            "num_bottleneck_blocks": 6,
            "estimate_occlusion_map": True,
            "dense_motion_params": {
                "block_expansion": 64,
                "max_features": 1024,
                "num_blocks": 5,
                "scale_factor": 0.25,
            },
        },
        "discriminator_params": {
            "scales": [1],
            "block_expansion": 32,
            "max_features": 512,
            "num_blocks": 4,
        },
    },
    "train_params": {
        "lr_generator": 2.0e-4,
        "lr_discriminator": 2.0e-4,
        "lr_kp_detector": 2.0e-4,
        "scales": [1, 0.5, 0.25, 0.125],
        "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
        "loss_weights": {
            "generator_gan": 1,
            "discriminator_gan": 1,
            "feature_matching": [10, 10, 10, 10],
            "perceptual": [10, 10, 10, 10, 10],
            "equivariance_value": 10,
            "equivariance_jacobian": 10,
        },
    },
}

# name: (model data pair, discriminator flags, kp flags, train_params overrides)
DIFFERENCES = {
    "vox-256": (
        "fomm",
        "vox",
        {"sn": True},
        {},
        {
            "num_epochs": 100,
            "num_repeats": 75,
            "epoch_milestones": [60, 90],
            "batch_size": 40,
            "loss_weights": {"generator_gan": 0},
        },
    ),
    "vox-adv-256": (
        "fomm_adv",
        "vox",
        {"use_kp": True},
        {},
        {"num_epochs": 150, "num_repeats": 75, "epoch_milestones": [], "batch_size": 36},
    ),
    "taichi-256": (
        "fomm",
        "taichi",
        {},
        {},
        {
            "num_epochs": 100,
            "num_repeats": 150,
            "epoch_milestones": [60, 90],
            "batch_size": 30,
            "loss_weights": {"generator_gan": 0},
        },
    ),
    "taichi-adv-256": (
        "fomm_adv",
        "taichi",
        {"use_kp": True},
        {},
        {
            "num_epochs": 150,
            "num_repeats": 150,
            "epoch_milestones": [],
            "batch_size": 27,
            "lr_kp_detector": 0,
        },
    ),
    "mgif-256": (
        "fomm",
        "mgif",
        {"sn": True},
        {"single_jacobian_map": True},
        {"num_epochs": 100, "num_repeats": 25, "epoch_milestones": [60, 90], "batch_size": 36},
    ),
    "bair-256": (
        "fomm",
        "bair",
        {"sn": True},
        {},
        {"num_epochs": 20, "num_repeats": 1, "epoch_milestones": [12, 18], "batch_size": 36},
    ),
    "nemo-256": (
        "fomm",
        "nemo",
        {"sn": True},
        {},
        {"num_epochs": 100, "num_repeats": 8, "epoch_milestones": [60, 90], "batch_size": 36},
    ),
    "fashion-256": (
        "fomm",
        "fashion",
        {},
        {},
        {"num_epochs": 100, "num_repeats": 50, "epoch_milestones": [60, 90], "batch_size": 27},
    ),
}

_FLAG_DEFAULTS = {
    "discriminator_params": {"sn": False, "use_kp": False},
    "kp_detector_params": {"single_jacobian_map": False},
}


def official_config(name: str) -> dict:
    """The official config ``name`` with absent flags filled with their defaults."""
    _, _, disc, kp, train = DIFFERENCES[name]
    config = copy.deepcopy(COMMON)
    model = config["model_params"]
    for section, defaults in _FLAG_DEFAULTS.items():
        model[section].update(defaults)
    model["discriminator_params"].update(disc)
    model["kp_detector_params"].update(kp)
    train = copy.deepcopy(train)
    config["train_params"]["loss_weights"].update(train.pop("loss_weights", {}))
    config["train_params"].update(train)
    return config
