"""lsq: learned step size quantization: codes, the step's gradient (Esser et al. 2020, eq. 3),
the gradient scale, the step's initialization, and argument checks."""

from __future__ import annotations

import math

import pytest
import torch

from onebit import OnebitError
from onebit.quantizers import LSQ, lsq
from onebit.quantizers.multibit import lsq_levels


@pytest.mark.parametrize(
    ("bits", "signed"), [(1, False), (2, False), (2, True), (4, True), (8, False)]
)
def test_forward_is_the_step_times_clamped_rounded_codes(bits: int, signed: bool) -> None:
    x = torch.linspace(-3, 3, 241)
    step = torch.tensor(0.37)
    q_n, q_p = lsq_levels(bits, signed)
    codes = torch.clamp(torch.round(x * (1 / step)), -q_n, q_p)
    assert torch.equal(lsq(x, step, bits, signed), codes * step)
    assert set(torch.unique(codes).tolist()) <= set(range(-q_n, q_p + 1))


def test_gradients_follow_the_paper() -> None:
    x = torch.tensor([-2.0, -0.31, 0.0, 0.26, 0.5, 0.74, 1.9], requires_grad=True)
    step = torch.tensor(0.25, requires_grad=True)
    bits, g = 3, 0.5
    q_n, q_p = lsq_levels(bits, True)  # codes -4 .. 3: x/s in [-4, 3]
    lsq(x, step, bits, True, g).sum().backward()
    v = x.detach() / 0.25
    inside = (v >= -q_n) & (v <= q_p)
    assert torch.equal(x.grad, inside.float())
    expected = torch.where(inside, torch.round(v) - v, torch.where(v < 0, -q_n, q_p).float())
    assert step.grad.item() == pytest.approx(g * expected.sum().item(), rel=1e-6)


def test_module_initializes_its_step_from_the_first_training_batch() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 16).abs()
    module = LSQ(bits=4)
    module.train()
    module(x)
    q_p = 15
    assert module.step.item() == pytest.approx(2 * x.abs().mean().item() / math.sqrt(q_p))
    before = module.step.item()
    module(x * 10)  # only the first batch sets it
    assert module.step.item() == before
    assert bool(module.initialized)
    restored = LSQ(bits=4)
    restored.load_state_dict(module.state_dict())
    assert restored.step.item() == before and bool(restored.initialized)


def test_module_scales_the_step_gradient_by_one_over_sqrt_n_qp() -> None:
    weights = LSQ(bits=2, mode="weights")
    w = torch.randn(6, 5)
    weights.eval()
    weights(w).sum().backward()
    raw_step = torch.tensor(1.0, requires_grad=True)
    lsq(w, raw_step, 2, True).sum().backward()
    assert weights.step.grad.item() == pytest.approx(raw_step.grad.item() / math.sqrt(30 * 1))
    activations = LSQ(bits=2)
    activations.eval()
    x = torch.rand(4, 7)
    activations(x).sum().backward()
    raw_step.grad = None
    lsq(x, raw_step, 2, False).sum().backward()
    assert activations.step.grad.item() == pytest.approx(raw_step.grad.item() / math.sqrt(7 * 3))


def test_defaults_sign_by_mode_and_declares_precision() -> None:
    assert LSQ(4, mode="weights").signed and not LSQ(4).signed
    assert LSQ(3).precision == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 0}, "bits must be an integer from 1 to 8"),
        ({"bits": 9}, "bits must be an integer from 1 to 8"),
        ({"bits": 2.0}, "bits must be an integer from 1 to 8"),
        ({"mode": "both"}, "mode must be"),
        ({"bits": 1, "signed": True}, "signed lsq needs at least 2 bits"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs: dict, message: str) -> None:
    with pytest.raises(OnebitError, match=message):
        LSQ(**kwargs)
