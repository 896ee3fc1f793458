"""CaseOptimizer and bop_with_adam: binary weights to Bop, the rest to Adam, as one Optimizer."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

import onebit
from onebit._registry import OnebitError
from onebit.nn import binary_parameters
from onebit.optim.bop import Bop
from onebit.optim.groups import CaseOptimizer, bop_with_adam


def _model(seed: int = 0, **overrides) -> nn.Module:
    torch.manual_seed(seed)
    return onebit.models.create("binarynet-mlp", hidden=16, depth=1, **overrides)


def _batch(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, seed: int) -> float:
    x, y = _batch(seed)
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def test_binary_weights_go_to_bop_and_the_rest_to_adam() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2, gamma=0.5, threshold=0.0)
    bop, adam = opt.optimizers
    assert isinstance(bop, Bop) and isinstance(adam, torch.optim.Adam)
    binary = {id(p) for _, p in binary_parameters(model)}
    assert {id(p) for p in opt.param_groups[0]["params"]} == binary
    rest = [p for p in model.parameters() if id(p) not in binary]
    assert [id(p) for p in opt.param_groups[1]["params"]] == [id(p) for p in rest]
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[1]["lr"] == 1e-2

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    _train_step(model, opt, seed=1)
    flipped = 0
    for name, p in binary_parameters(model):
        old, new = before[name], p.detach()
        assert torch.equal(new.abs(), old.abs())  # Bop: magnitude kept
        assert bool(((new == old) | (new == -old)).all())  # each element kept or negated
        flipped += int((new != old).sum())
        assert torch.equal(opt.state[p]["m"], bop.state[p]["m"])
    assert flipped > 0
    for name in ("2.weight", "2.bias", "4.weight", "4.bias"):  # batch norm: Adam moved them
        p = dict(model.named_parameters())[name]
        assert not torch.equal(p.detach(), before[name])
        assert "exp_avg" in adam.state[p]


def test_lambda_lr_drives_both_optimizers() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2, gamma=1e-3)
    assert isinstance(opt, torch.optim.Optimizer)
    schedule = LambdaLR(opt, lambda step: 0.5**step)
    for step in range(3):
        _train_step(model, opt, seed=step)
        schedule.step()
    bop, adam = opt.optimizers
    assert bop.param_groups[0]["lr"] == pytest.approx(1e-3 / 8)
    assert adam.param_groups[0]["lr"] == pytest.approx(1e-2 / 8)
    assert [g["initial_lr"] for g in opt.param_groups] == [1e-3, 1e-2]
    assert schedule.get_last_lr() == pytest.approx([1e-3 / 8, 1e-2 / 8])


def test_state_dict_round_trip_then_identical_next_steps() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2, gamma=0.2, threshold=1e-4)
    schedule = LambdaLR(opt, lambda step: 0.9**step)
    for step in range(2):
        _train_step(model, opt, seed=step)
        schedule.step()
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    saved_schedule = schedule.state_dict()

    resumed_model = _model(seed=123)  # different init, overwritten
    resumed_model.load_state_dict(saved_model)
    resumed = bop_with_adam(resumed_model, lr=1.0, gamma=0.9)  # hyper-parameters overwritten
    resumed_schedule = LambdaLR(resumed, lambda step: 0.9**step)
    resumed.load_state_dict(saved_opt)
    resumed_schedule.load_state_dict(saved_schedule)
    assert [g["lr"] for g in resumed.param_groups] == [g["lr"] for g in opt.param_groups]

    for step in range(2, 5):
        _train_step(model, opt, seed=step)
        schedule.step()
        _train_step(resumed_model, resumed, seed=step)
        resumed_schedule.step()
    for (name, a), b in zip(
        model.state_dict().items(), resumed_model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    for a, b in zip(opt.optimizers, resumed.optimizers, strict=True):
        for p, q in zip(a.param_groups[0]["params"], b.param_groups[0]["params"], strict=True):
            for key, value in a.state[p].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(b.state[q][key]))


def test_load_state_dict_refuses_a_different_layout() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2)
    only_bop = CaseOptimizer(
        ([p for _, p in binary_parameters(model)], Bop), default=None, params=model
    )
    with pytest.raises(OnebitError, match="has 2 optimizers but the state dict holds 1"):
        opt.load_state_dict(only_bop.state_dict())


def test_step_hooks_fire_and_zero_grad_reaches_every_optimizer() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2)
    calls = []
    handle = opt.register_step_post_hook(lambda optimizer, args, kwargs: calls.append(optimizer))
    opt.register_step_pre_hook(lambda optimizer, args, kwargs: calls.append("pre"))
    _train_step(model, opt, seed=0)
    assert calls == ["pre", opt]
    handle.remove()
    _train_step(model, opt, seed=1)
    assert calls == ["pre", opt, "pre"]
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())


def test_predicates_see_qualified_names_and_the_default_takes_the_rest() -> None:
    model = _model()
    seen = []

    def is_hidden_bn(name: str, p: nn.Parameter) -> bool:
        seen.append(name)
        return name.startswith("2.")

    opt = CaseOptimizer(
        (is_hidden_bn, lambda ps: torch.optim.SGD(ps, lr=0.1)),
        (lambda name, p: name.startswith("4."), lambda ps: torch.optim.SGD(ps, lr=0.2)),
        default=lambda ps: torch.optim.Adam(ps, lr=1e-3),
        params=model,
    )
    assert seen == [name for name, _ in model.named_parameters()]
    named = dict(model.named_parameters())
    groups = [[id(p) for p in g["params"]] for g in opt.param_groups]
    assert groups == [
        [id(named["2.weight"]), id(named["2.bias"])],
        [id(named["4.weight"]), id(named["4.bias"])],
        [id(named["1.weight"]), id(named["3.weight"])],
    ]
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2, 1e-3]


def test_ready_built_optimizers_and_no_default() -> None:
    a, b, c = (nn.Parameter(torch.ones(2)) for _ in range(3))
    opt = CaseOptimizer(
        ([a], torch.optim.SGD([a], lr=1.0)), ([b], torch.optim.SGD([b], lr=1.0)), default=None
    )
    for p in (a, b, c):
        p.grad = torch.ones(2)
    opt.step()
    assert torch.equal(a.detach(), torch.zeros(2)) and torch.equal(b.detach(), torch.zeros(2))
    assert torch.equal(c.detach(), torch.ones(2))  # claimed by nobody: untrained


def test_overlapping_and_empty_cases_are_refused() -> None:
    model = _model()
    binary = [p for _, p in binary_parameters(model)]
    with pytest.raises(OnebitError, match=r"'1\.weight' is claimed by both case 0 and case 1"):
        CaseOptimizer((binary, Bop), (lambda name, p: p.dim() > 1, Bop), default=None, params=model)
    with pytest.raises(OnebitError, match="case 1 claims no parameter"):
        CaseOptimizer((binary, Bop), (lambda name, p: False, Bop), default=None, params=model)
    with pytest.raises(OnebitError, match="claimed by both case 0 and the default"):
        CaseOptimizer((binary, Bop), default=torch.optim.Adam(model.parameters()), params=model)
    with pytest.raises(OnebitError, match="at least one"):
        CaseOptimizer(default=lambda ps: torch.optim.Adam(ps), params=model)


def test_selectors_that_cannot_be_resolved_are_refused() -> None:
    model = _model()
    binary = [p for _, p in binary_parameters(model)]
    with pytest.raises(OnebitError, match="predicate needs params="):
        CaseOptimizer((lambda name, p: True, Bop), default=None)
    with pytest.raises(OnebitError, match="no fixed order"):
        CaseOptimizer((set(binary), Bop), default=None)
    with pytest.raises(OnebitError, match="factory"):
        CaseOptimizer((binary, Bop(binary[:1])), default=None)
    with pytest.raises(OnebitError, match="params= does not train"):
        CaseOptimizer(([*binary, nn.Parameter(torch.ones(1))], Bop), default=None, params=model)
    with pytest.raises(OnebitError, match="default optimizer factory needs params="):
        CaseOptimizer((binary, Bop), default=lambda ps: torch.optim.Adam(ps))
    # A set is fine with params=: the model fixes the order.
    opt = CaseOptimizer((set(binary), Bop), default=None, params=model)
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in binary]


def test_bop_with_adam_needs_binary_weights() -> None:
    with pytest.raises(OnebitError, match="declares no binary weights"):
        bop_with_adam(nn.Sequential(nn.Linear(3, 2)), lr=1e-3)


def test_a_fully_binary_model_needs_no_adam() -> None:
    model = onebit.models.create("binarynet-mlp", hidden=4, depth=1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.weight.requires_grad_(False)
            module.bias.requires_grad_(False)
    opt = bop_with_adam(model, lr=1e-3)
    assert len(opt.optimizers) == 1 and opt.default_optimizer is None


def test_add_param_group_goes_to_a_sub_optimizer() -> None:
    opt = bop_with_adam(_model(), lr=1e-3)
    with pytest.raises(OnebitError, match="add parameter groups to one of"):
        opt.add_param_group({"params": [nn.Parameter(torch.ones(1))]})


def test_deepcopy_keeps_a_working_optimizer() -> None:
    model = _model()
    opt = bop_with_adam(model, lr=1e-2)
    LambdaLR(opt, lambda step: 1.0)
    _train_step(model, opt, seed=0)
    clone = copy.deepcopy(opt)
    assert len(clone.param_groups) == 2 and clone.state_dict().keys() == {"optimizers"}
    assert "step" not in clone.__dict__  # the scheduler's wrapper of the original stays behind


def _fit_separable(seed: int, gamma: float) -> tuple[list[float], int]:
    """60 full-batch steps on a tiny binary MLP; returns the losses and the count of sign flips."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 16, generator=gen)
    y = (x @ torch.randn(16, generator=gen) > 0).long()  # linearly separable
    torch.manual_seed(seed)
    model = onebit.models.create(
        "binarynet-mlp", input_shape=(16,), num_classes=2, hidden=32, depth=1
    )
    start = [p.detach().sign() for _, p in binary_parameters(model)]
    opt = bop_with_adam(model, lr=1e-2, gamma=gamma, threshold=1e-5)
    losses = []
    for _ in range(60):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    flips = sum(
        int((s != p.sign()).sum())
        for s, (_, p) in zip(start, binary_parameters(model), strict=True)
    )
    return losses, flips


@pytest.mark.parametrize("seed", [0, 1])
def test_short_bop_with_adam_run_reduces_the_loss(seed: int) -> None:
    losses, flips = _fit_separable(seed, gamma=1e-2)
    frozen, no_flips = _fit_separable(seed, gamma=0.0)  # γ = 0: only Adam's batch norm learns
    assert flips > 0 and no_flips == 0
    final, frozen_final = sum(losses[-5:]) / 5, sum(frozen[-5:]) / 5
    assert final < 0.5 * losses[0]
    assert final < 0.7 * frozen_final  # the flips, not batch norm alone, did most of it
