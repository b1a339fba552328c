"""Synchronised batch norm keeps every network: each trainer's conversion, checked per model.

``benchmarks/sync_batchnorm.py`` prints the model x trainer table; these tests run its
functions (loaded from the script, which is not a package) and assert on the same numbers.
"""

import copy
import runpy
import warnings
from pathlib import Path

import pytest
import torch
from pytorch_lightning.plugins.layer_sync import TorchSyncBatchNorm
from timm.layers import BatchNormAct2d, SyncBatchNormAct
from torch import nn

from datamodules.training.layer_sync import TimmSyncBatchNorm

ROOT = Path(__file__).resolve().parents[1]
TABLE = runpy.run_path(str(ROOT / "benchmarks" / "sync_batchnorm.py"), run_name="sync_table")
TOLERANCE = 1e-6
SWEEPS = sorted(p.stem for p in (ROOT / "conf" / "sweep").glob("*.yaml"))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Real-size networks on small inputs: one thread is fastest on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def layer_syncs():
    return TABLE["setup_layer_syncs"](TABLE["SETUPS"])


def test_every_setup_that_syncs_uses_the_timm_aware_plugin(layer_syncs):
    syncing = {setup for setup, sync in layer_syncs.items() if sync is not None}
    assert {"trainer=ddp", "trainer=ddp_multinode", "experiment=fomm_vox_bf16"} <= syncing
    # ddp_cpu keeps batch norm per process: SyncBatchNorm cannot train on CPU tensors.
    assert "trainer=ddp_cpu" not in syncing
    for setup in syncing:
        assert type(layer_syncs[setup]) is TimmSyncBatchNorm, setup


@pytest.mark.parametrize("sweep", SWEEPS)
@pytest.mark.parametrize("trainer", ["ddp", "ddp_multinode"])
def test_sweeps_keep_the_trainers_layer_sync(sweep, trainer, tmp_path):
    sync = TABLE["trainer_layer_sync"]([f"trainer={trainer}", f"sweep={sweep}"], str(tmp_path))
    assert type(sync) is TimmSyncBatchNorm


@pytest.mark.parametrize("model", TABLE["MODELS"])
def test_conversion_keeps_the_network(model, layer_syncs):
    module = TABLE["build_model"](model)
    # Setups whose layer syncs are alike (same class, same process group) convert alike:
    # each kind is checked once.
    kinds = {}
    for setup, sync in layer_syncs.items():
        if sync is not None:
            kinds.setdefault((type(sync), getattr(sync, "process_group", None)), (setup, sync))
    assert kinds
    for setup, sync in kinds.values():
        check = TABLE["check_layer_sync"](module, sync)
        assert check.converted <= TOLERANCE, (model, setup, check)
        assert check.reverted <= TOLERANCE, (model, setup, check)
        assert check.classes_restored, (model, setup)

    # The guard: Lightning's own conversion does change the timm EfficientNets (it drops
    # the activation of BatchNormAct2d), so the checks above can fail.
    fused = any(isinstance(child, BatchNormAct2d) for child in module.modules())
    assert fused == (model.startswith("effnet") or model == "ensemble")
    if fused:
        default = TABLE["check_layer_sync"](copy.deepcopy(module), TorchSyncBatchNorm())
        assert not default.converted <= 1e-3, (model, default)
        assert not default.classes_restored


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm_act = BatchNormAct2d(8, act_layer=nn.SiLU, drop_layer=nn.Dropout2d)
        self.head = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(8 * 4 * 4))

    def forward(self, x):
        return self.head(self.norm_act(self.conv(x)))


def test_revert_gives_back_the_modules_with_their_trained_tensors_and_flags():
    torch.manual_seed(0)
    net = _Net()
    net.head[1].eval()  # mixed flags: revert must keep each module's own
    originals = dict(net.named_modules())
    plugin = TimmSyncBatchNorm()

    synced = plugin.apply(net)
    assert type(synced.norm_act) is SyncBatchNormAct
    assert type(synced.head[1]) is nn.SyncBatchNorm
    assert synced.norm_act.act is originals["norm_act.act"]
    assert synced.norm_act.drop is originals["norm_act.drop"]
    # What a device move and training do: new buffer tensors, updated statistics.
    synced.double()
    synced(torch.rand(4, 3, 4, 4, dtype=torch.float64))
    trained = {key: value.clone() for key, value in synced.state_dict().items()}
    assert int(trained["norm_act.num_batches_tracked"]) == 1
    synced.eval()
    probe = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    expected = synced(probe)
    synced.train()
    synced.head[1].eval()

    reverted = plugin.revert(synced)
    for name, module in reverted.named_modules():
        assert module is originals[name], name
    assert type(reverted.norm_act) is BatchNormAct2d
    assert type(reverted.head[1]) is nn.BatchNorm1d
    assert isinstance(reverted.norm_act.act, nn.SiLU)
    state = reverted.state_dict()
    assert state.keys() == trained.keys()
    for key, value in trained.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key
    assert reverted.norm_act.training and not reverted.head[1].training
    reverted.eval()
    torch.testing.assert_close(reverted(probe), expected, rtol=0, atol=0)


def test_a_batch_norm_it_cannot_sync_faithfully_stays_and_is_named():
    class Doubled(nn.BatchNorm2d):
        def forward(self, x):
            return 2 * super().forward(x)

    net = nn.Sequential(nn.Conv2d(3, 4, 1), Doubled(4), nn.BatchNorm2d(4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        synced = TimmSyncBatchNorm().apply(net)
    assert type(synced[1]) is Doubled
    assert type(synced[2]) is nn.SyncBatchNorm
    assert any("1 (Doubled)" in str(w.message) for w in caught)
