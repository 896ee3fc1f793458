"""dorefa: k-bit activations and weights, round half to even, gradients, argument checks."""

from __future__ import annotations

import pytest
import torch

from onebit import OnebitError
from onebit.quantizers import DoReFa, dorefa


def levels(k_bit: int) -> int:
    return 2**k_bit - 1


@pytest.mark.parametrize("k_bit", [1, 2, 3, 4, 8])
def test_activations_clip_then_round(k_bit: int, gen: torch.Generator) -> None:
    x = torch.rand(500, generator=gen, dtype=torch.float64) * 3 - 1
    n = levels(k_bit)
    expected = torch.round(x.clamp(0, 1) * n) / n
    out = dorefa(x, k_bit=k_bit)
    assert torch.equal(out, expected)
    assert len(out.unique()) <= 2**k_bit
    assert ((out * n).round() == out * n).all()


def test_activations_hand_values_for_two_bits() -> None:
    x = torch.tensor([-0.5, 0.0, 0.1, 0.2, 0.5, 0.6, 0.9, 1.0, 1.7], dtype=torch.float64)
    out = dorefa(x)  # defaults: k_bit=2, mode="activations"; levels 0, 1/3, 2/3, 1
    expected = torch.tensor([0, 0, 0, 1, 2, 2, 3, 3, 3], dtype=torch.float64) / 3
    assert torch.equal(out, expected)


def test_round_half_to_even_like_torch_round() -> None:
    x = torch.tensor([0.5, 0.25, 0.75], dtype=torch.float64)
    assert dorefa(x, k_bit=1).tolist() == [0.0, 0.0, 1.0]  # 0.5 -> 0, not 1
    # weights: w = 0 maps to exactly 0.5 before rounding, so one bit gives -1, not +1
    w = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    assert dorefa(w, k_bit=1, mode="weights").tolist() == [-1.0, -1.0, 1.0]


def test_activations_gradient_is_one_inside_unit_interval_only(gen: torch.Generator) -> None:
    x = torch.tensor([-2.0, -0.3, 0.1, 0.4, 0.6, 0.95, 1.2, 3.0], dtype=torch.float64)
    x.requires_grad_(True)
    upstream = torch.rand(8, generator=gen, dtype=torch.float64) + 0.5
    dorefa(x, k_bit=2).backward(upstream)
    mask = torch.tensor([0, 0, 1, 1, 1, 1, 0, 0], dtype=torch.float64)
    assert torch.equal(x.grad, upstream * mask)


def weights_by_hand(w: torch.Tensor, k_bit: int) -> torch.Tensor:
    t = torch.tanh(w)
    scaled = t / (2 * t.abs().max()) + 0.5
    n = levels(k_bit)
    return 2 * (torch.round(scaled * n) / n) - 1


@pytest.mark.parametrize("k_bit", [1, 2, 3])
def test_weights_mode_matches_formula(k_bit: int, gen: torch.Generator) -> None:
    w = torch.randn(6, 4, 3, 3, generator=gen, dtype=torch.float64)
    out = dorefa(w, k_bit=k_bit, mode="weights")
    torch.testing.assert_close(out, weights_by_hand(w, k_bit), rtol=0, atol=1e-15)
    assert out.min().item() == -1.0 and out.max().item() == 1.0


def test_weights_mode_two_bits_takes_four_symmetric_values(gen: torch.Generator) -> None:
    w = torch.randn(2000, generator=gen, dtype=torch.float64)
    out = dorefa(w, k_bit=2, mode="weights")
    values = torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0], dtype=torch.float64)
    torch.testing.assert_close(out.unique(), values, rtol=0, atol=1e-15)


def test_weights_mode_hand_values() -> None:
    # tanh(w) / (2 max|tanh|) + 0.5 maps [-2, 0, 2] to exactly [0, 0.5, 1].
    w = torch.tensor([-2.0, 0.0, 2.0], dtype=torch.float64)
    out = dorefa(w, k_bit=2, mode="weights")
    # 0.5 * 3 = 1.5 rounds (half to even) to 2 -> 2/3 -> 2 * 2/3 - 1 = 1/3.
    torch.testing.assert_close(out, torch.tensor([-1.0, 1 / 3, 1.0], dtype=torch.float64))


def test_weights_mode_gradient_treats_max_as_constant(gen: torch.Generator) -> None:
    w = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    w.requires_grad_(True)
    upstream = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    dorefa(w, k_bit=2, mode="weights").backward(upstream)
    t = torch.tanh(w.detach())
    # d/dw [2 (tanh(w) / (2M) + 1/2) - 1] with M constant = (1 - tanh^2) / M
    expected = upstream * (1 - t**2) / t.abs().max()
    torch.testing.assert_close(w.grad, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k_bit", [0, -1, 2.5, "2"])
def test_bad_k_bit_raises(k_bit: object) -> None:
    with pytest.raises(OnebitError, match="k_bit"):
        dorefa(torch.zeros(3), k_bit=k_bit)  # type: ignore[arg-type]
    with pytest.raises(OnebitError, match="k_bit"):
        DoReFa(k_bit=k_bit)  # type: ignore[arg-type]


def test_k_bit_none_raises_onebit_error() -> None:
    with pytest.raises(OnebitError, match="k_bit"):
        DoReFa(k_bit=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["weight", "Activations", "", "both"])
def test_bad_mode_raises(mode: str) -> None:
    with pytest.raises(OnebitError, match="mode"):
        dorefa(torch.zeros(3), mode=mode)
    with pytest.raises(OnebitError, match="mode"):
        DoReFa(mode=mode)


@pytest.mark.parametrize("k_bit", [1, 2, 3, 8])
def test_module_precision_is_k_bit(k_bit: int) -> None:
    assert DoReFa(k_bit=k_bit).precision == k_bit
    assert DoReFa(k_bit=k_bit, mode="weights").precision == k_bit


def test_all_zero_weights_quantize_without_nan() -> None:
    out = dorefa(torch.zeros(4, 3), k_bit=2, mode="weights")
    assert not out.isnan().any()
    level = 2.0 * (torch.tensor(2.0) / 3.0) - 1.0  # round(1.5) = 2 of 3 levels, in float32
    assert torch.equal(out, level.expand(4, 3))
