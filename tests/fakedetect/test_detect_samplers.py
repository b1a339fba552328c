import numpy as np
import pytest
from lightning_fabric.utilities.data import _replace_dunder_methods
from pytorch_lightning.utilities.data import _update_dataloader
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler

from datamodules.samplers import BalancedBatchSampler, TripletBatchSampler, fixed_triplets

LABELS = np.array([0] * 30 + [1] * 10)


def test_detect_balanced_batches_are_half_real_half_fake():
    sampler = BalancedBatchSampler(RandomSampler(range(40)), 8, labels=LABELS, num_batches=20)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 20
    for batch in batches:
        assert len(batch) == 8 and LABELS[batch].sum() == 4
    # the minority class is cycled through before repeating
    fakes = [i for batch in batches[:2] for i in batch if LABELS[i]]
    assert len(set(fakes)) == 8
    with pytest.raises(ValueError, match="even"):
        BalancedBatchSampler(RandomSampler(range(40)), 7, labels=LABELS)
    with pytest.raises(ValueError, match="No fake faces"):
        list(BalancedBatchSampler(RandomSampler(range(30)), 4, labels=LABELS, num_batches=1))


def test_detect_triplets_alternate_and_pair_distinct_faces():
    sampler = TripletBatchSampler(RandomSampler(range(40)), 12, labels=LABELS, num_batches=5)
    for batch in sampler:
        assert len(batch) == 12
        for position, (anchor, positive, negative) in enumerate(batch):
            same = 1 if position % 2 == 0 else 0  # (fake, fake, real), (real, real, fake)
            assert LABELS[anchor] == LABELS[positive] == same != LABELS[negative]
            assert anchor != positive
    assert fixed_triplets(LABELS, 6, seed=3) == fixed_triplets(LABELS, 6, seed=3)
    assert fixed_triplets(LABELS, 6, seed=3) != fixed_triplets(LABELS, 6, seed=4)


def test_detect_lightning_injects_a_distributed_sampler_into_the_balanced_one():
    dataset = list(range(40))
    with _replace_dunder_methods(BatchSampler):  # what Lightning does around train_dataloader()
        batch_sampler = BalancedBatchSampler(
            RandomSampler(dataset), 4, True, labels=LABELS, num_batches=6
        )
    loader = DataLoader(dataset, batch_sampler=batch_sampler)
    shards = []
    for rank in range(2):
        shard = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=1)
        distributed = _update_dataloader(loader, shard)
        assert isinstance(distributed.batch_sampler, BalancedBatchSampler)
        batches = list(distributed.batch_sampler)
        assert len(batches) == 6 and all(LABELS[b].sum() == 2 for b in batches)
        shards.append({i for b in batches for i in b})
        assert shards[-1] <= set(shard)
    assert not shards[0] & shards[1]
