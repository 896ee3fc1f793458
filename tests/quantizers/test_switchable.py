"""switchable_lsq and nested_lsq: Bit-Mixer's quantizers whose width is chosen at run time."""

from __future__ import annotations

import pytest
import torch

from onebit import OnebitError
from onebit.quantizers import LSQ, NestedLSQ, SwitchableLSQ, lsq, nested_lsq


@pytest.mark.parametrize("max_bits", [2, 3, 4, 8])
def test_nested_levels_keep_the_top_planes_of_the_widest_code(max_bits: int) -> None:
    step = torch.tensor(0.125)
    x = torch.linspace(-3, 3, 2001)
    widest = nested_lsq(x, step, max_bits, max_bits) / step
    top = 2**max_bits - 1
    assert set(widest.unique().tolist()) <= set(range(-top, top + 1, 2))  # odd levels
    codes = ((widest + top) / 2).round().long()
    for bits in range(1, max_bits + 1):
        shift = 2 ** (max_bits - bits)
        got = nested_lsq(x, step, bits, max_bits) / step
        # the centre of the b-bit bin holding the widest level: sum of the top b +-1 planes
        planes = [1 - 2 * (1 - ((codes >> i) & 1)) for i in range(max_bits)]  # +1 where bit set
        expected = sum(2**i * planes[i] for i in range(max_bits - bits, max_bits)).float()
        assert torch.equal(got, expected)
        assert torch.equal(got, shift * (2 * (codes // shift) - (2**bits - 1)).float())


def test_nested_gradient_is_straight_through_inside_the_range() -> None:
    x = torch.tensor([-3.0, -0.3, 0.05, 0.4, 3.0], requires_grad=True)
    step = torch.tensor(0.1, requires_grad=True)
    nested_lsq(x, step, 2, 4).sum().backward()
    inside = (x.detach().abs() <= 15 * 0.1 + 0.1).float()
    assert torch.equal(x.grad, inside)
    assert step.grad is not None and torch.isfinite(step.grad)


def test_switchable_lsq_keeps_one_step_per_width_and_initializes_each_on_first_use() -> None:
    torch.manual_seed(0)
    quantizer = SwitchableLSQ((2, 4))
    quantizer.train()
    x = torch.rand(16, 32)
    y4 = quantizer(x)
    assert bool(quantizer.initialized[1]) and not bool(quantizer.initialized[0])
    quantizer.bits = 2
    y2 = quantizer(x)
    assert quantizer.initialized.all()
    plain4, plain2 = LSQ(4), LSQ(2)
    for plain in (plain4, plain2):
        plain.train()
    assert torch.equal(y4, plain4(x)) and torch.equal(y2, plain2(x))
    assert torch.equal(quantizer.step(4), plain4.step) and torch.equal(
        quantizer.step(2), plain2.step
    )
    assert torch.equal(y2, lsq(x, quantizer.step(2), 2))


def test_a_disabled_switchable_quantizer_clips_without_rounding() -> None:
    torch.manual_seed(0)
    quantizer = SwitchableLSQ((2, 3), signed=True, enabled=False).train()
    quantizer.bits = 2
    x = torch.randn(64, 8) * 3
    y = quantizer(x)
    s = quantizer.step(2)
    assert bool(quantizer.initialized[0]) and not bool(quantizer.initialized[1])
    assert torch.equal(y, torch.clamp(x, -2 * s.item(), 1 * s.item()))  # (Q_N, Q_P) = (2, 1)
    inside = (x > -2 * s) & (x < s)
    assert inside.any() and (~inside).any() and torch.equal(y[inside], x[inside])
    y.sum().backward()
    assert quantizer.steps.grad[0] != 0 and quantizer.steps.grad[1] == 0  # the range learns
    assert quantizer.precision == 32 and SwitchableLSQ((2, 3)).precision == 3


def test_widths_are_checked() -> None:
    with pytest.raises(OnebitError, match="bit_options must be distinct bit widths from 1 to 8"):
        NestedLSQ((0, 2))
    with pytest.raises(OnebitError, match="from 2 to 8"):
        SwitchableLSQ((1, 2), signed=True)
    with pytest.raises(OnebitError, match="distinct"):
        NestedLSQ((2, 2))
    quantizer = NestedLSQ((2, 4))
    with pytest.raises(OnebitError, match=r"bits must be one of \[2, 4\], got 3"):
        quantizer.bits = 3
    assert quantizer.precision == 4  # what is stored
