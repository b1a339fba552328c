"""bf16 only where the hardware has it: the probe, precision auto, the one warning, the banner."""

import warnings

import pytest
import torch

import train
from datamodules.training import precision
from datamodules.training.precision import CpuFeatures

AVX2_ONLY = CpuFeatures(model="Test AVX2 CPU", capability="AVX2", amx_bf16=False, avx512_bf16=False)
AMX = CpuFeatures(model="Test AMX CPU", capability="AVX512", amx_bf16=True, avx512_bf16=True)
AVX512_BF16 = CpuFeatures(
    model="Test Zen4 CPU", capability="AVX512", amx_bf16=False, avx512_bf16=True
)


@pytest.fixture
def cpu(monkeypatch):
    """Pretend to run on the given CPU; forget earlier warnings."""
    monkeypatch.setattr(precision, "_warned", set())

    def _use(features: CpuFeatures) -> None:
        monkeypatch.setattr(precision, "cpu_features", lambda: features)

    return _use


def test_cpuinfo_flags_are_read(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu avx2 avx512f amx_bf16 amx_tile\n"
        "\nprocessor\t: 1\nmodel name\t: Some Xeon\nflags\t\t: fpu\n"
    )
    model, flags = precision._cpuinfo(cpuinfo)
    assert model == "Some Xeon"
    assert {"amx_bf16", "avx2"} <= flags and "avx512_bf16" not in flags
    assert precision._cpuinfo(tmp_path / "absent") == ("", set())


@pytest.mark.parametrize(
    ("features", "native", "fast"),
    [(AVX2_ONLY, False, False), (AVX512_BF16, True, False), (AMX, True, True)],
)
def test_native_and_fast_bf16_on_cpus(cpu, features, native, fast):
    cpu(features)
    assert precision.native_bf16("cpu") is native
    assert precision.bf16_is_fast("cpu") is fast
    assert precision.auto_precision("cpu") == ("bf16-mixed" if native else "32-true")


@pytest.mark.parametrize(("capability", "expected"), [((7, 0), "32-true"), ((8, 0), "bf16-mixed")])
def test_auto_precision_on_gpus_goes_by_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert precision.auto_precision("gpu") == expected
    assert precision.auto_precision("auto") == expected


def test_without_cuda_a_gpu_trainer_resolves_to_32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.auto_precision("gpu") == "32-true"


@pytest.mark.parametrize(("features", "expected"), [(AVX2_ONLY, "32-true"), (AMX, "bf16-mixed")])
def test_trainer_configs_resolve_auto_by_their_accelerator(make_cfg, cpu, features, expected):
    cpu(features)
    # trainer=gpu asks for auto; on a CPU accelerator it goes by the CPU's features.
    assert make_cfg(["trainer=gpu", "trainer.accelerator=cpu"]).trainer.precision == expected
    assert make_cfg(["trainer=ddp", "trainer.accelerator=cpu"]).trainer.precision == expected
    # CPU trainers and the bf16 experiment say what they want.
    assert make_cfg(["trainer=cpu"]).trainer.precision == 32
    assert make_cfg(["experiment=fomm_vox_bf16"]).trainer.precision == "bf16-mixed"


def test_bf16_on_emulating_hardware_warns_once_with_the_measured_reason(cpu):
    cpu(AVX2_ONLY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert precision.warn_if_bf16_is_emulated("bf16-mixed", "cpu")
        assert precision.warn_if_bf16_is_emulated("bf16-mixed", torch.device("cpu"))
        assert not precision.warn_if_bf16_is_emulated("32-true", "cpu")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "Test AVX2 CPU" in messages[0] and "neither AMX nor AVX512-BF16" in messages[0]
    assert "190 s" in messages[0] and "11.8 s" in messages[0] and "16x slower" in messages[0]
    assert "trainer.precision=32" in messages[0] and "auto_precision" in messages[0]


@pytest.mark.parametrize("features", [AMX, AVX512_BF16])
def test_bf16_where_native_does_not_warn(cpu, features):
    cpu(features)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not precision.warn_if_bf16_is_emulated("bf16-true", "cpu")
    assert not caught


def test_train_warns_once_for_bf16_on_an_emulating_cpu(make_cfg, cpu, tmp_path):
    cpu(AVX2_ONLY)
    # Built, not run: the warning comes when the trainer is, before any fitting.
    cfg = make_cfg(["trainer.precision=bf16-mixed", "train=false", "test=false", "logger=csv"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train.train(cfg)
    assert sum("PyTorch emulates bf16" in str(w.message) for w in caught) == 1


def test_hardware_banner_names_the_path():
    banner = precision.hardware_banner("cpu")
    features = precision.cpu_features()
    assert banner.startswith("hardware: ")
    assert features.model in banner and f"path={features.widest_path}" in banner
    assert f"torch threads={torch.get_num_threads()}" in banner and "device=cpu" in banner
