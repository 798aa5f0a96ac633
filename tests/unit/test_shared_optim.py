"""Shared RMSProp/Adam: the same updates as torch's optimizers, on statistics shared between processes."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from rl_platform.agents.a3c.shared_optim import SharedAdam, SharedRMSprop


def make_model() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(3, 2)


def set_gradients(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        param.grad = torch.randn(param.shape, generator=generator)


@pytest.mark.parametrize(("ours", "theirs"), [
    (lambda p: SharedRMSprop(p, lr=0.01, alpha=0.9, eps=1e-5), lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9,
                                                                                             eps=1e-5)),
    (lambda p: SharedAdam(p, lr=0.01, eps=1e-8), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8)),
])
def test_same_updates_as_torch(ours, theirs):
    model, reference = make_model(), make_model()
    optimizer, reference_optimizer = ours(model.parameters()), theirs(reference.parameters())
    for seed in range(5):
        set_gradients(model, seed)
        set_gradients(reference, seed)
        optimizer.step()
        reference_optimizer.step()
    for param, expected in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(param, expected)
    assert optimizer.num_steps == 5


def apply_steps(model: nn.Linear, state: dict, first_seed: int, count: int) -> None:
    """In a child process: `count` optimizer steps on the shared model with the shared statistics."""
    optimizer = SharedAdam(model.parameters(), lr=0.01, state=state)
    for seed in range(first_seed, first_seed + count):
        set_gradients(model, seed)
        optimizer.step()


def test_two_processes_update_one_shared_state():
    """Process A takes 3 steps, then process B 3 more: parameters, moments and step count are those of 6
    steps in one process, so both wrote to the same shared tensors (B continued A's bias correction)."""
    model = make_model().share_memory()
    optimizer = SharedAdam(model.parameters(), lr=0.01).share_memory()
    context = mp.get_context("spawn")
    for first_seed in (0, 3):
        process = context.Process(target=apply_steps, args=(model, optimizer.shared, first_seed, 3))
        process.start()
        process.join(60)
        assert process.exitcode == 0
    reference = make_model()
    reference_optimizer = SharedAdam(reference.parameters(), lr=0.01)
    for seed in range(6):
        set_gradients(reference, seed)
        reference_optimizer.step()
    assert optimizer.num_steps == 6
    for param, expected in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(param, expected)
    for name in ("exp_avg", "exp_avg_sq"):
        for ours, theirs in zip(optimizer.shared[name], reference_optimizer.shared[name], strict=True):
            torch.testing.assert_close(ours, theirs)


def test_load_state_dict_keeps_statistics_shared():
    model = make_model().share_memory()
    optimizer = SharedRMSprop(model.parameters()).share_memory()
    saved = {"square_avg": [torch.full_like(p, 2.0) for p in model.parameters()], "step": [torch.tensor(7.0)]}
    shared_before = [t.data_ptr() for t in optimizer.shared["square_avg"]]
    optimizer.load_state_dict(saved)
    assert [t.data_ptr() for t in optimizer.shared["square_avg"]] == shared_before
    assert all(t.is_shared() for t in optimizer.shared["square_avg"])
    assert optimizer.num_steps == 7
    torch.testing.assert_close(optimizer.shared["square_avg"][0], torch.full((2, 3), 2.0))
