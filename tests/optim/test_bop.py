"""Bop (Helwegen et al. 2019, Algorithm 1): exact flips and momenta on a hand-built example."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from onebit._registry import OnebitError
from onebit.optim.bop import Bop

# Dyadic numbers throughout, so every momentum below is exact in float32.
W0 = [1.0, -1.0, 1.0, -1.0, 0.5, 2.0, 1.0]
GRADS = [
    [1.0, 1.0, -1.0, -0.25, 0.5, 0.25, 0.5],
    [1.0, 1.0, -1.0, -0.5, 0.5, 0.5, -0.25],
    [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
]
# m_t = (1 - γ) m_{t-1} + γ g_t with γ = 0.5; flip where |m| > τ = 0.25 and sign(m) = sign(w).
MOMENTA = [
    [0.5, 0.5, -0.5, -0.125, 0.25, 0.125, 0.25],  # 0 flips; 4 and 6 sit at τ: no flip (strict)
    [0.75, 0.75, -0.75, -0.3125, 0.375, 0.3125, 0.0],  # 3, 4, 5 flip; 0 has the other sign now
    [-0.625, 0.375, -0.375, -0.15625, 0.1875, 0.15625, 0.0],  # 0 flips back
]
WEIGHTS = [
    [-1.0, -1.0, 1.0, -1.0, 0.5, 2.0, 1.0],
    [-1.0, -1.0, 1.0, 1.0, -0.5, -2.0, 1.0],
    [1.0, -1.0, 1.0, 1.0, -0.5, -2.0, 1.0],
]


def _run(opt: Bop, w: torch.nn.Parameter, grads: list[list[float]]) -> None:
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()


def test_flips_exactly_where_momentum_crosses_threshold_with_the_weights_sign() -> None:
    w = torch.nn.Parameter(torch.tensor(W0))
    opt = Bop([w], lr=0.5, threshold=0.25)
    for g, m, expected in zip(GRADS, MOMENTA, WEIGHTS, strict=True):
        w.grad = torch.tensor(g)
        opt.step()
        assert torch.equal(opt.state[w]["m"], torch.tensor(m))
        assert torch.equal(w.detach(), torch.tensor(expected))


def test_magnitudes_are_kept_and_signs_only_flip() -> None:
    gen = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(64, 32, generator=gen))
    magnitude = w.detach().abs().clone()
    opt = Bop([w], lr=0.3, threshold=0.0)
    for _ in range(5):
        w.grad = torch.randn(64, 32, generator=gen)
        opt.step()
    assert torch.equal(w.detach().abs(), magnitude)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_never_flips_while_momentum_stays_within_threshold(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(torch.randn(200, generator=gen))
    before = w.detach().clone()
    tau = 0.5
    opt = Bop([w], lr=0.3, threshold=tau)
    for _ in range(20):
        # |g| <= τ at every step, so |m| <= τ: a convex combination of such values.
        w.grad = (torch.rand(200, generator=gen) * 2 - 1) * tau
        opt.step()
        assert opt.state[w]["m"].abs().max() <= tau
    assert torch.equal(w.detach(), before)


def test_parameters_without_grad_are_untouched() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    frozen = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = Bop([w, frozen], lr=1.0, threshold=0.0)
    w.grad = torch.tensor([1.0, -1.0])
    opt.step()
    assert torch.equal(w.detach(), torch.tensor([-1.0, 1.0]))
    assert torch.equal(frozen.detach(), torch.tensor([1.0, -1.0]))
    assert frozen not in opt.state


def test_gamma_lives_under_lr_and_gamma_is_an_alias() -> None:
    w = torch.nn.Parameter(torch.ones(3))
    assert Bop([w]).param_groups[0]["lr"] == 1e-4
    assert Bop([w]).param_groups[0]["threshold"] == 1e-8
    assert Bop([w], gamma=0.25).param_groups[0]["lr"] == 0.25
    assert Bop([w], lr=0.125).param_groups[0]["lr"] == 0.125
    with pytest.raises(OnebitError, match="not both"):
        Bop([w], lr=0.1, gamma=0.1)
    with pytest.raises(OnebitError, match=r"\[0, 1\]"):
        Bop([w], gamma=1.5)
    with pytest.raises(OnebitError, match="threshold"):
        Bop([w], threshold=-1.0)


def test_param_groups_carry_their_own_gamma_and_threshold() -> None:
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    opt = Bop([{"params": [a]}, {"params": [b], "lr": 1.0, "threshold": 0.5}], lr=0.5)
    a.grad = b.grad = torch.tensor([1.0, 0.25])
    opt.step()
    assert torch.equal(opt.state[a]["m"], torch.tensor([0.5, 0.125]))
    assert torch.equal(a.detach(), torch.tensor([-1.0, -1.0]))  # threshold 1e-8
    assert torch.equal(opt.state[b]["m"], torch.tensor([1.0, 0.25]))
    assert torch.equal(b.detach(), torch.tensor([-1.0, 1.0]))  # threshold 0.5


def test_lambda_lr_scales_gamma() -> None:
    w = torch.nn.Parameter(torch.ones(1))
    opt = Bop([w], lr=0.5, threshold=10.0)
    schedule = LambdaLR(opt, lambda step: 0.5**step)
    w.grad = torch.ones(1)
    opt.step()  # γ = 0.5: m = 0.5
    schedule.step()
    assert opt.param_groups[0]["lr"] == 0.25
    opt.step()  # γ = 0.25: m = 0.75 * 0.5 + 0.25 = 0.625
    schedule.step()
    assert torch.equal(opt.state[w]["m"], torch.tensor([0.625]))
    assert opt.param_groups[0]["lr"] == 0.125


def test_state_dict_round_trip_continues_identically() -> None:
    gen = torch.Generator().manual_seed(7)
    init = torch.randn(40, generator=gen)
    grads = [torch.randn(40, generator=gen) for _ in range(6)]
    w = torch.nn.Parameter(init.clone())
    opt = Bop([w], lr=0.2, threshold=0.1)
    _run(opt, w, [g.tolist() for g in grads[:3]])
    saved_w, saved = w.detach().clone(), copy.deepcopy(opt.state_dict())  # as torch.save

    resumed_w = torch.nn.Parameter(saved_w.clone())
    resumed = Bop([resumed_w], lr=0.9, threshold=0.9)  # overwritten by the load
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.2
    assert torch.equal(resumed.state[resumed_w]["m"], opt.state[w]["m"])

    _run(opt, w, [g.tolist() for g in grads[3:]])
    _run(resumed, resumed_w, [g.tolist() for g in grads[3:]])
    assert torch.equal(w.detach(), resumed_w.detach())
    assert torch.equal(opt.state[w]["m"], resumed.state[resumed_w]["m"])


def test_closure_is_evaluated_and_returned() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    opt = Bop([w], lr=1.0, threshold=0.0)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (w * torch.tensor([1.0, 1.0])).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.detach()) == 0.0
    assert torch.equal(w.detach(), torch.tensor([-1.0, -1.0]))  # grad +1: the +1 weight flips
