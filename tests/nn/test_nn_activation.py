"""LearnableBias, RSign and RPReLU: per-channel parameters over dim 1, hand-checked values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from onebit.nn import LearnableBias, RPReLU, RSign

SHAPES = [(5, 3), (2, 3, 4, 5)]


def channel_view(p: torch.Tensor, ndim: int) -> torch.Tensor:
    return p.view(1, -1, *([1] * (ndim - 2)))


def set_(param: torch.nn.Parameter, values: list[float]) -> None:
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=param.dtype))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_learnable_bias_adds_per_channel(shape: tuple[int, ...], gen: torch.Generator) -> None:
    module = LearnableBias(3).double()
    assert torch.equal(module.bias, torch.zeros(3, dtype=torch.float64))
    set_(module.bias, [1.0, -2.0, 0.5])
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    y = module(x)
    assert torch.equal(y[:, 0], x[:, 0] + 1.0)
    assert torch.equal(y[:, 1], x[:, 1] - 2.0)
    assert torch.equal(y[:, 2], x[:, 2] + 0.5)
    upstream = torch.randn(shape, generator=gen, dtype=torch.float64)
    y.backward(upstream)
    reduce = [d for d in range(len(shape)) if d != 1]
    torch.testing.assert_close(module.bias.grad, upstream.sum(dim=reduce))


def test_rprelu_hand_values() -> None:
    module = RPReLU(2).double()
    set_(module.shift_in.bias, [-0.5, 0.25])  # gamma = [0.5, -0.25]
    set_(module.prelu.weight, [0.25, 0.1])
    set_(module.shift_out.bias, [0.1, -1.0])  # zeta
    x = torch.tensor([[0.2, -0.75], [1.5, 0.0]], dtype=torch.float64)
    # channel 0: 0.2 - 0.5 = -0.3 -> -0.075 + 0.1;  1.5 - 0.5 = 1.0 -> 1.0 + 0.1
    # channel 1: -0.75 + 0.25 = -0.5 -> -0.05 - 1.0;  0.0 + 0.25 = 0.25 -> 0.25 - 1.0
    expected = torch.tensor([[0.025, -1.05], [1.1, -0.75]], dtype=torch.float64)
    torch.testing.assert_close(module(x), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rprelu_is_shifted_prelu_per_channel(shape: tuple[int, ...], gen) -> None:
    module = RPReLU(3).double()
    gamma = torch.randn(3, generator=gen, dtype=torch.float64)
    slope = torch.rand(3, generator=gen, dtype=torch.float64)
    zeta = torch.randn(3, generator=gen, dtype=torch.float64)
    set_(module.shift_in.bias, (-gamma).tolist())
    set_(module.prelu.weight, slope.tolist())
    set_(module.shift_out.bias, zeta.tolist())
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    shifted = x - channel_view(gamma, x.ndim)
    expected = torch.where(shifted >= 0, shifted, channel_view(slope, x.ndim) * shifted)
    expected = expected + channel_view(zeta, x.ndim)
    torch.testing.assert_close(module(x), expected, rtol=1e-15, atol=1e-15)


def test_rprelu_starts_as_prelu_with_given_slope(gen: torch.Generator) -> None:
    x = torch.randn(4, 3, 2, 2, generator=gen)
    assert torch.equal(RPReLU(3)(x), F.prelu(x, torch.full((3,), 0.25)))
    assert torch.equal(RPReLU(3, init=0.5)(x), F.prelu(x, torch.full((3,), 0.5)))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_rsign_is_sign_of_x_minus_per_channel_threshold(shape, gen) -> None:
    module = RSign(3).double()
    alpha = torch.tensor([0.3, -0.2, 0.0], dtype=torch.float64)
    set_(module.shift.bias, (-alpha).tolist())
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    x[0, 0] = 0.3  # exactly on the threshold: sign(0) = +1
    y = module(x)
    assert set(y.unique().tolist()) <= {-1.0, 1.0}
    expected = torch.where(x - channel_view(alpha, x.ndim) >= 0, 1.0, -1.0).double()
    assert torch.equal(y, expected)


@pytest.mark.parametrize(
    ("quantizer", "derivative"),
    [
        ("ste_sign", lambda t: (t.abs() <= 1).double()),
        ("approx_sign", lambda t: torch.where(t.abs() <= 1, 2 - 2 * t.abs(), 0.0).double()),
    ],
    ids=["ste_sign", "approx_sign"],
)
def test_rsign_gradient_reaches_the_threshold(quantizer, derivative, gen) -> None:
    module = RSign(3, quantizer=quantizer).double()
    set_(module.shift.bias, [-0.5, 0.25, 0.0])
    x = torch.randn(4, 3, 5, 5, generator=gen, dtype=torch.float64) * 1.5
    upstream = torch.randn(4, 3, 5, 5, generator=gen, dtype=torch.float64)
    module(x).backward(upstream)
    shifted = x + channel_view(module.shift.bias.detach(), 4)
    expected = (upstream * derivative(shifted)).sum(dim=(0, 2, 3))
    assert module.shift.bias.grad.abs().min() > 0
    torch.testing.assert_close(module.shift.bias.grad, expected, rtol=1e-12, atol=1e-12)


def test_rsign_learns_its_threshold() -> None:
    thresholds = torch.tensor([0.3, -0.2, 0.55], dtype=torch.float64)
    x = torch.linspace(-1, 1, 201, dtype=torch.float64).view(-1, 1).expand(-1, 3)
    target = torch.where(x >= thresholds, 1.0, -1.0).double()
    module = RSign(3).double()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((module(x) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert torch.equal(module(x), target)
    torch.testing.assert_close(-module.shift.bias.detach(), thresholds, rtol=0, atol=0.011)
