"""DyBNN's HyperFunction, DySign and DyPReLU: forward rules against hand-written formulas, zero
initialization (static sign, plain PReLU), per-sample thresholds, gradients into the branch,
configs that round-trip."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from onebit import OnebitError
from onebit.nn import DyPReLU, DySign, HyperFunction
from onebit.quantizers import ApproxSign


def randomize(module: torch.nn.Module, generator: torch.Generator, std: float = 0.5) -> None:
    """Random weights and biases in every hyper function's last linear map (zero at init)."""
    with torch.no_grad():
        for hyper in (m for m in module.modules() if isinstance(m, HyperFunction)):
            for p in hyper.expand.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)


def context(hyper: HyperFunction, x: torch.Tensor) -> torch.Tensor:
    """The hyper function by hand: mean over H and W, reduce, ReLU, expand."""
    m = x.mean(dim=(2, 3))
    h = (m @ hyper.reduce.weight.T + hyper.reduce.bias).clamp_min(0)
    return h @ hyper.expand.weight.T + hyper.expand.bias


@pytest.mark.parametrize(
    ("channels", "reduction", "min_hidden", "hidden"),
    [(64, 4, 8, 16), (16, 4, 8, 8), (3, 4, 8, 8), (64, 8, 4, 8), (64, 16, 1, 4)],
)
def test_hyper_function_reduces_by_the_ratio_with_a_floor(channels, reduction, min_hidden, hidden):
    hyper = HyperFunction(channels, 5, reduction, min_hidden)
    assert hyper.reduce.out_features == hidden and hyper.expand.in_features == hidden
    assert hyper.reduce.bias is not None and hyper.expand.bias is not None
    assert torch.count_nonzero(hyper.expand.weight) == 0 == torch.count_nonzero(hyper.expand.bias)


def test_hyper_function_is_pool_linear_relu_linear(gen) -> None:
    hyper = HyperFunction(6, 4).double()
    randomize(hyper, gen)
    x = torch.randn(3, 6, 5, 7, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(hyper(x), context(hyper, x), rtol=1e-12, atol=1e-12)
    assert torch.equal(HyperFunction(6, 4)(x.float()), torch.zeros(3, 4))  # zero at init


@pytest.mark.parametrize("module", [HyperFunction(4, 4), DySign(4), DyPReLU(4)], ids=type)
def test_they_take_maps_only(module) -> None:
    with pytest.raises(OnebitError, match=r"takes \(N, C, H, W\) maps, got .* \(2, 4\)"):
        module(torch.zeros(2, 4))


def test_bad_hyper_sizes_are_named() -> None:
    with pytest.raises(OnebitError, match="reduction and min_hidden must be >= 1"):
        HyperFunction(4, 4, reduction=0)


def test_a_fresh_dysign_is_the_static_sign_at_zero(gen) -> None:
    x = torch.randn(4, 5, 3, 3, generator=gen)
    x[0, 0, 0, 0] = 0.0
    expected = torch.where(x >= 0, 1.0, -1.0)
    assert torch.equal(DySign(5)(x), expected)


def test_dysign_is_the_sign_of_x_minus_its_per_sample_thresholds(gen) -> None:
    module = DySign(5).double()
    randomize(module, gen)
    x = torch.randn(4, 5, 3, 3, generator=gen, dtype=torch.float64)
    t = context(module.threshold, x)
    y = module(x)
    assert torch.equal(module.thresholds(x), module.threshold(x))
    expected = torch.where(x - t[:, :, None, None] >= 0, 1.0, -1.0).double()
    assert torch.equal(y, expected)
    # the thresholds differ between samples (and between channels)
    assert t.std(dim=0).min() > 0 and t.std(dim=1).min() > 0


def test_dysign_on_its_threshold_is_plus_one(gen) -> None:
    module = DySign(3)
    with torch.no_grad():  # thresholds = the bias, whatever the input
        module.threshold.expand.bias.copy_(torch.tensor([0.5, -0.25, 0.0]))
    x = torch.randn(2, 3, 2, 2, generator=gen)
    x[0, :, 0, 0] = torch.tensor([0.5, -0.25, 0.0])
    x[0, :, 0, 1] = torch.tensor([0.5, -0.25, 0.0]).nextafter(torch.tensor(-1.0))
    y = module(x)
    assert y[0, :, 0, 0].tolist() == [1, 1, 1] and y[0, :, 0, 1].tolist() == [-1, -1, -1]


def test_dysign_gradients_reach_the_input_and_the_threshold_branch(gen) -> None:
    module = DySign(6, quantizer="approx_sign").double()
    x = (torch.randn(3, 6, 4, 4, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()
    upstream = torch.randn(3, 6, 4, 4, generator=gen, dtype=torch.float64)
    module(x).backward(upstream)
    # the surrogate's derivative at x - t (t = 0 at init), negated for the threshold
    surrogate = torch.where(x.abs() <= 1, 2 - 2 * x.abs(), 0.0).detach() * upstream
    grad_t = -surrogate.sum(dim=(2, 3))  # (N, C)
    h = F.relu(module.threshold.reduce(x.detach().mean(dim=(2, 3))))
    torch.testing.assert_close(module.threshold.expand.bias.grad, grad_t.sum(0))
    torch.testing.assert_close(module.threshold.expand.weight.grad, grad_t.T @ h)
    assert module.threshold.reduce.weight.grad.abs().max() == 0  # behind the zero weight, at init
    torch.testing.assert_close(x.grad, surrogate)  # the branch adds nothing behind the zero weight
    randomize(module, gen)
    module.zero_grad()
    x.grad = None
    module(x).backward(upstream)
    assert module.threshold.reduce.weight.grad.abs().max() > 0
    assert not torch.allclose(x.grad, surrogate)  # now the mean feeds the thresholds too


def test_dysign_learns_input_dependent_thresholds() -> None:
    """Signs of a pattern under a per-sample offset: the right threshold of a sample is its
    offset (its mean), which a static threshold cannot follow and the dynamic one learns."""
    generator = torch.Generator().manual_seed(0)
    pattern = torch.linspace(-1, 1, 16, dtype=torch.float64).view(1, 1, 4, 4).expand(64, 2, 4, 4)
    offsets = torch.rand(64, 2, 1, 1, generator=generator, dtype=torch.float64) * 2 - 1
    x, target = pattern + offsets, torch.where(pattern >= 0, 1.0, -1.0).double()
    torch.manual_seed(0)
    module = DySign(2).double()
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    for _ in range(400):
        optimizer.zero_grad()
        ((module(x) - target) ** 2).mean().backward()
        optimizer.step()
    dynamic = (module(x) == target).double().mean()
    static = max((torch.where(x >= t, 1.0, -1.0) == target).double().mean() for t in offsets)
    assert dynamic > 0.97 and static < 0.8


def test_dysign_needs_a_quantizer_and_its_config_round_trips(gen) -> None:
    with pytest.raises(OnebitError, match="needs a sign quantizer"):
        DySign(3, quantizer=None)
    module = DySign(12, quantizer="approx_sign", reduction=2, min_hidden=3)
    config = json.loads(json.dumps(module.get_config()))
    assert config == {
        "num_channels": 12,
        "quantizer": {"name": "approx_sign"},
        "reduction": 2,
        "min_hidden": 3,
    }
    twin = DySign.from_config(config)
    assert isinstance(twin.quantizer, ApproxSign) and twin.threshold.reduce.out_features == 6
    randomize(module, gen)
    twin.load_state_dict(module.state_dict())
    x = torch.randn(2, 12, 3, 3, generator=gen)
    assert torch.equal(twin(x), module(x))


def test_a_fresh_dyprelu_is_a_plain_prelu(gen) -> None:
    x = torch.randn(4, 3, 2, 2, generator=gen)
    assert torch.equal(DyPReLU(3)(x), F.prelu(x, torch.full((3,), 0.25)))
    assert torch.equal(DyPReLU(3, init=0.5)(x), F.prelu(x, torch.full((3,), 0.5)))


def test_dyprelu_shifts_per_sample(gen) -> None:
    module = DyPReLU(3).double()
    randomize(module, gen)
    with torch.no_grad():
        module.prelu.weight.copy_(torch.tensor([0.25, -0.5, 1.5]))
    x = torch.randn(4, 3, 5, 5, generator=gen, dtype=torch.float64)
    shifts = context(module.shifts, x)
    gamma, zeta = shifts[:, :3, None, None], shifts[:, 3:, None, None]
    d = x - gamma
    slope = module.prelu.weight.detach().view(1, 3, 1, 1)
    expected = torch.where(d >= 0, d, slope * d) + zeta
    torch.testing.assert_close(module(x), expected, rtol=1e-14, atol=1e-14)
    g, z = module.gamma_zeta(x)
    assert torch.equal(torch.cat([g, z], dim=1), module.shifts(x))
    assert g.std(dim=0).min() > 0 and z.std(dim=0).min() > 0


def test_dyprelu_gradients_reach_its_branch_and_slopes(gen) -> None:
    module = DyPReLU(4)
    randomize(module, gen)
    x = torch.randn(3, 4, 5, 5, generator=gen, requires_grad=True)
    module(x).square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name
    assert x.grad.abs().max() > 0


def test_dyprelu_config_round_trips(gen) -> None:
    module = DyPReLU(20, init=0.1, reduction=8, min_hidden=2)
    config = json.loads(json.dumps(module.get_config()))
    assert config == {"num_channels": 20, "init": 0.1, "reduction": 8, "min_hidden": 2}
    twin = DyPReLU.from_config(config)
    assert twin.shifts.outputs == 40 and twin.shifts.reduce.out_features == 2
    randomize(module, gen)
    twin.load_state_dict(module.state_dict())
    x = torch.randn(2, 20, 3, 3, generator=gen)
    assert torch.equal(twin(x), module(x))
