"""Stochastic rounding (Gupta et al. 2015, eq. (2)) and the optimizer wrapper that applies it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

import onebit
from onebit._registry import OnebitError
from onebit.optim.groups import bop_with_adam
from onebit.optim.rounding import StochasticRounding, stochastic_round


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _is_integral(t: torch.Tensor) -> bool:
    return torch.equal(t, torch.round(t))


@pytest.mark.parametrize("bits, frac_bits", [(8, 4), (4, 1), (16, 12), (8, 10), (6, -2)])
def test_fixed_grid_values_are_multiples_of_the_step_within_the_range(bits, frac_bits) -> None:
    x = torch.randn(1000, generator=_gen(bits)) * 2.0 ** (bits - 1 - frac_bits)
    y = stochastic_round(x, bits, frac_bits, _gen(0))
    q = y * 2.0**frac_bits
    assert _is_integral(q)
    assert q.min() >= -(2 ** (bits - 1)) and q.max() <= 2 ** (bits - 1) - 1
    step = 2.0**-frac_bits
    inside = (x >= -(2 ** (bits - 1)) * step) & (x <= (2 ** (bits - 1) - 1) * step)
    assert ((y - x)[inside].abs() < step).all()  # one of the two neighbours


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dynamic_grid_spans_the_largest_magnitude(bits: int) -> None:
    x = torch.randn(500, generator=_gen(bits)) * 3
    qmax = 2 ** (bits - 1) - 1
    step = x.abs().max() / qmax
    y = stochastic_round(x, bits, generator=_gen(1))
    q = y / step
    assert torch.allclose(q, torch.round(q), atol=1e-4)
    assert q.abs().max() <= qmax + 1e-4
    assert ((y - x).abs() <= step * (1 + 1e-5)).all()


@pytest.mark.parametrize("frac_bits", [3, None])
def test_unbiased_within_six_sigma(frac_bits: int | None) -> None:
    # Each draw errs by less than one step ε, so its variance is at most ε²/4 and the mean of N
    # draws lies within 6 σ = 3 ε / sqrt(N) of x; the draws are seeded, so this cannot flake.
    bits, n = 8, 4000
    x = (torch.rand(64, generator=_gen(5)) * 2 - 1) * 10  # inside [-16, 15.875] for FL = 3
    step = 2.0**-frac_bits if frac_bits is not None else float(x.abs().max()) / 127
    draws = stochastic_round(x.expand(n, -1).contiguous(), bits, frac_bits, _gen(6))
    assert (draws.mean(0) - x).abs().max() <= 3 * step / n**0.5
    nearest_bias = (torch.round(x / step) * step - x).abs().max()
    assert nearest_bias > 3 * step / n**0.5  # round-to-nearest would fail the same bound


def test_deterministic_under_a_seed() -> None:
    x = torch.randn(300, generator=_gen(0))
    assert torch.equal(stochastic_round(x, 6, 3, _gen(4)), stochastic_round(x, 6, 3, _gen(4)))
    assert not torch.equal(stochastic_round(x, 6, 3, _gen(4)), stochastic_round(x, 6, 3, _gen(5)))
    torch.manual_seed(9)
    a = stochastic_round(x, 6)
    torch.manual_seed(9)
    assert torch.equal(a, stochastic_round(x, 6))  # default generator


def test_fixed_grid_saturates_at_the_signed_range() -> None:
    x = torch.tensor([100.0, -100.0, 7.9375, -8.0, float("inf"), -float("inf")])
    y = stochastic_round(x, bits=8, frac_bits=4, generator=_gen(0))
    assert torch.equal(y, torch.tensor([7.9375, -8.0, 7.9375, -8.0, 7.9375, -8.0]))


def test_zeros_and_on_grid_values_stay() -> None:
    assert torch.equal(stochastic_round(torch.zeros(5)), torch.zeros(5))
    assert torch.equal(stochastic_round(torch.zeros(5), 8, 4), torch.zeros(5))
    x = torch.tensor([0.0, 0.25, -1.5, 0.0, 3.0])
    for seed in range(5):
        assert torch.equal(stochastic_round(x, 8, 2, _gen(seed)), x)
        assert stochastic_round(x, 8, generator=_gen(seed))[[0, 3]].eq(0).all()


def test_dtype_shape_and_empty_tensors() -> None:
    x = torch.randn(3, 4, dtype=torch.float64, generator=_gen(0))
    y = stochastic_round(x, 8, 5, _gen(0))
    assert y.dtype == torch.float64 and y.shape == (3, 4) and _is_integral(y * 32)
    h = stochastic_round(x.to(torch.bfloat16), 8, 5, _gen(0))
    assert h.dtype == torch.bfloat16 and _is_integral(h.float() * 32)
    assert stochastic_round(torch.empty(0, 3)).shape == (0, 3)
    x.requires_grad_(True)
    assert not stochastic_round(x).requires_grad


@pytest.mark.parametrize(
    "bits, frac_bits, match",
    [
        (1, None, "bits"),
        (33, None, "bits"),
        (8.0, None, "bits"),
        (True, None, "bits"),
        (8, 2.5, "frac_bits"),
        (8, 65, "frac_bits"),
        (8, "4", "frac_bits"),
    ],
)
def test_bad_formats_are_refused(bits, frac_bits, match: str) -> None:
    with pytest.raises(OnebitError, match=match):
        stochastic_round(torch.ones(2), bits, frac_bits)
    with pytest.raises(OnebitError, match=match):
        StochasticRounding(torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=1.0), bits, frac_bits)


def test_only_floating_point_tensors_are_rounded() -> None:
    with pytest.raises(OnebitError, match="floating-point"):
        stochastic_round(torch.ones(2, dtype=torch.int32))


# The wrapper ------------------------------------------------------------------------------------


def _tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return onebit.models.create(
        "binarynet-mlp", input_shape=(12,), num_classes=3, hidden=8, depth=1
    )


def _step(model: nn.Module, opt: torch.optim.Optimizer, seed: int) -> None:
    gen = _gen(100 + seed)
    x, y = torch.randn(16, 12, generator=gen), torch.randint(0, 3, (16,), generator=gen)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def test_inner_step_sees_gradients_on_the_grid() -> None:
    model = _tiny()
    inner = torch.optim.SGD(model.parameters(), lr=0.5)
    seen: list[torch.Tensor] = []
    inner.register_step_pre_hook(
        lambda opt, args, kwargs: seen.extend(p.grad.clone() for p in model.parameters())
    )
    opt = StochasticRounding(inner, bits=8, frac_bits=10, seed=0)
    _step(model, opt, seed=0)
    assert len(seen) == len(list(model.parameters()))
    for grad in seen:
        q = grad * 2**10
        assert _is_integral(q) and q.abs().max() <= 128
    assert any(bool(g.ne(0).any()) for g in seen)


def test_dynamic_scale_grads_and_rounded_weights() -> None:
    model = _tiny()
    inner = torch.optim.SGD(model.parameters(), lr=2.0**-4)
    grads: list[torch.Tensor] = []
    inner.register_step_pre_hook(
        lambda opt, args, kwargs: grads.extend(p.grad.clone() for p in model.parameters())
    )
    opt = StochasticRounding(inner, bits=4, round_weights=True, seed=1)
    _step(model, opt, seed=0)
    for tensor in [*grads, *(p.detach() for p in model.parameters())]:
        q = tensor / (tensor.abs().max() / 7)
        assert torch.allclose(q, torch.round(q), atol=1e-4)


def _run(seed: int | None, steps: range, state=None, model_state=None):
    model = _tiny()
    if model_state is not None:
        model.load_state_dict(model_state)
    opt = StochasticRounding(bop_with_adam(model, lr=1e-2, gamma=0.1), bits=6, seed=seed)
    schedule = LambdaLR(opt, lambda step: 0.8**step)
    if state is not None:
        opt.load_state_dict(state["opt"])
        schedule.load_state_dict(state["schedule"])
    for step in steps:
        _step(model, opt, seed=step)
        schedule.step()
    return model, opt, schedule


def test_reproducible_under_a_seed_and_seeded_from_torch_otherwise() -> None:
    a, _, _ = _run(seed=3, steps=range(3))
    b, _, _ = _run(seed=3, steps=range(3))
    c, _, _ = _run(seed=4, steps=range(3))
    pairs = list(zip(a.parameters(), b.parameters(), c.parameters(), strict=True))
    assert all(torch.equal(p, q) for p, q, _ in pairs)
    assert not all(torch.equal(p, r) for p, _, r in pairs)
    torch.manual_seed(11)
    g1 = StochasticRounding(torch.optim.SGD(a.parameters(), lr=1.0)).generator.initial_seed()
    torch.manual_seed(11)
    g2 = StochasticRounding(torch.optim.SGD(a.parameters(), lr=1.0)).generator.initial_seed()
    assert g1 == g2


def test_resumed_from_state_dict_continues_exactly() -> None:
    full, _, _ = _run(seed=2, steps=range(5))
    half, opt, schedule = _run(seed=2, steps=range(2))
    state = copy.deepcopy({"opt": opt.state_dict(), "schedule": schedule.state_dict()})
    assert set(state["opt"]) == {"optimizers", "generator"}
    # seed=99: the generator state in the checkpoint must replace it
    resumed, resumed_opt, _ = _run(99, range(2, 5), state, copy.deepcopy(half.state_dict()))
    for p, q in zip(full.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [g["lr"] for g in resumed_opt.param_groups] == pytest.approx(
        [0.1 * 0.8**5, 1e-2 * 0.8**5]
    )


def test_wrapper_is_an_optimizer_that_schedules_and_hooks_see() -> None:
    model = _tiny()
    opt = StochasticRounding(torch.optim.Adam(model.parameters(), lr=1e-3), seed=0)
    assert isinstance(opt, torch.optim.Optimizer)
    schedule = LambdaLR(opt, lambda step: 0.5)
    assert opt.optimizer.param_groups[0]["lr"] == 5e-4
    calls = []
    opt.register_step_post_hook(lambda *args: calls.append(1))
    _step(model, opt, seed=0)
    schedule.step()
    assert calls == [1]
    with pytest.raises(OnebitError, match="no generator state"):
        opt.load_state_dict({"optimizers": [opt.optimizer.state_dict()]})
