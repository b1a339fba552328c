"""The every-N-validations cadence of the dashboard callbacks."""

from types import SimpleNamespace

import pytest

from datamodules.training.validation_cadence import EveryNValidations


def due_at(every: int, validations: int) -> list[int]:
    callback = EveryNValidations(every)
    sanity = SimpleNamespace(sanity_checking=True)
    callback.on_validation_epoch_start(sanity, None)
    assert not callback.due(sanity)  # the sanity check never counts
    trainer = SimpleNamespace(sanity_checking=False)
    due = []
    for number in range(1, validations + 1):
        callback.on_validation_epoch_start(trainer, None)
        if callback.due(trainer):
            due.append(number)
    return due


def test_the_first_and_every_nth_validation_are_due():
    assert due_at(1, 3) == [1, 2, 3]
    assert due_at(3, 7) == [1, 4, 7]
    assert due_at(0, 3) == []


def test_a_negative_cadence_is_refused():
    with pytest.raises(ValueError, match="every_n_validations must be >= 0"):
        EveryNValidations(-1)
