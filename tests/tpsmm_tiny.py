"""A small TPSMM config shared by the TPSMM tests."""


def tiny_params(bg=True, multi_mask=True):
    """A small TPSMM for 64x64 frames: 2 transforms, narrow networks."""
    return {
        "common_params": {"num_tps": 2, "num_channels": 3, "bg": bg, "multi_mask": multi_mask},
        "generator_params": {"block_expansion": 4, "max_features": 32, "num_down_blocks": 3},
        "dense_motion_params": {
            "block_expansion": 4,
            "max_features": 16,
            "num_blocks": 3,
            "scale_factor": 0.25,
        },
        "avd_network_params": {"id_bottle_size": 8, "pose_bottle_size": 8},
    }
