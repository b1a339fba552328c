"""SAM (two passes a step, the base optimizer's update at the climbed point) and linear decay."""

import pytest
import torch

from fakedetect.optim import SAM, linear_decay_after

TARGET = torch.tensor([1.0, -2.0, 0.5])
WEIGHTS = torch.tensor([3.0, 1.0, 2.0])


def loss_of(param):
    return (WEIGHTS * (param - TARGET) ** 2).sum()


def test_a_sam_step_takes_the_gradient_at_the_climbed_point():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = SAM([param], torch.optim.SGD, rho=0.1, lr=0.05)
    passes = []

    def closure():
        optimizer.zero_grad()
        loss = loss_of(param)
        loss.backward()
        passes.append(param.detach().clone())
        return loss

    returned = optimizer.step(closure)
    start = torch.zeros(3)
    gradient = 2 * WEIGHTS * (start - TARGET)
    climbed = start + 0.1 * gradient / gradient.norm()
    expected = start - 0.05 * 2 * WEIGHTS * (climbed - TARGET)
    assert len(passes) == 2
    torch.testing.assert_close(passes[1], climbed)
    torch.testing.assert_close(param.detach(), expected)
    assert returned.item() == pytest.approx(loss_of(start).item())  # the loss at w


def test_sam_keeps_the_base_optimizers_state_in_checkpoints():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = SAM([param], torch.optim.SGD, lr=0.01, momentum=0.9)

    def closure():
        optimizer.zero_grad()
        loss = loss_of(param)
        loss.backward()
        return loss

    optimizer.step(closure)
    state = optimizer.state_dict()
    assert "momentum_buffer" in state["state"][0]
    restored = SAM([torch.nn.Parameter(torch.zeros(3))], torch.optim.SGD, lr=0.01, momentum=0.9)
    restored.load_state_dict(state)
    torch.testing.assert_close(
        restored.base_optimizer.state_dict()["state"][0]["momentum_buffer"],
        state["state"][0]["momentum_buffer"],
    )
    assert restored.param_groups is restored.base_optimizer.param_groups


def test_sam_refuses_to_step_without_a_closure_and_skips_a_skipped_batch():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = SAM([param], torch.optim.SGD, lr=0.1)
    with pytest.raises(ValueError, match="16-mixed"):
        optimizer.step()
    assert optimizer.step(lambda: None) is None
    assert torch.equal(param.detach(), torch.zeros(3))
    with pytest.raises(ValueError, match="rho"):
        SAM([param], torch.optim.SGD, rho=-1, lr=0.1)


def test_linear_decay_keeps_the_rate_then_lowers_it_to_zero_at_the_last_epoch():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = linear_decay_after(optimizer, total_epochs=100)  # decay from epoch 75
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates.append(optimizer.param_groups[0]["lr"])
    assert rates[:76] == [1.0] * 76
    assert rates[76] == pytest.approx(24 / 25) and rates[90] == pytest.approx(10 / 25)
    assert rates[100] == 0.0
    with pytest.raises(ValueError, match="trainer.max_epochs"):
        linear_decay_after(optimizer, total_epochs=10, decay_start=10)
