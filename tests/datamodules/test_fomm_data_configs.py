import hydra
import pytest

from datamodules.embedded import EmbeddedDataModule
from datamodules.pairs import FOMMDataModule

JITTER = {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1}
FLIPS = {"horizontal_flip": True, "time_flip": True}

# dataset_params and the data-side train_params of config/<name>-256.yaml in
# AliaksandrSiarohin/first-order-model.
OFFICIAL = {
    "vox": (True, {"flip_param": FLIPS, "jitter_param": JITTER}, 75, 40),
    "taichi": (True, {"flip_param": FLIPS, "jitter_param": JITTER}, 150, 30),
    "mgif": (
        False,
        {
            "flip_param": FLIPS,
            "crop_param": {"size": [256, 256]},
            "resize_param": {"ratio": [0.9, 1.1]},
            "jitter_param": {"hue": 0.5},
        },
        25,
        36,
    ),
    "bair": (False, {"flip_param": FLIPS, "jitter_param": JITTER}, 1, 36),
    "nemo": (False, {"flip_param": FLIPS}, 8, 36),
    "fashion": (False, {"flip_param": FLIPS, "jitter_param": {"hue": 0.1}}, 50, 27),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_dataset_configs_match_the_official_ones(make_cfg, tmp_path, name):
    id_sampling, augmentation, num_repeats, batch_size = OFFICIAL[name]
    cfg = make_cfg([f"data={name}", "model=fomm"])
    module = hydra.utils.instantiate(cfg.data)
    assert type(module) is FOMMDataModule
    assert module.root_dir == str(tmp_path / "data" / name)
    assert module.frame_shape == (256, 256, 3)
    assert module.hparams.id_sampling is id_sampling
    assert module.augmentation_params == augmentation
    assert (module.hparams.num_repeats, module.hparams.batch_size) == (num_repeats, batch_size)
    assert module.hparams.num_workers > 0


def test_embedded_is_the_default_data(make_cfg, tmp_path):
    module = hydra.utils.instantiate(make_cfg([]).data)
    assert isinstance(module, EmbeddedDataModule)
    assert module.root_dir == str(tmp_path / "data" / "embedded")
    assert module.frame_shape == (64, 64, 3) and module.spec.size == 64
    assert module.hparams.id_sampling is True and module.hparams.batch_size <= 16
