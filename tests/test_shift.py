"""AP2, the approximate power-of-2 of arXiv:1602.02830 (Algorithms 3 and 4), and the shift."""

from __future__ import annotations

import math

import pytest
import torch

from onebit.shift import ap2, ap2_float, is_power_of_two, shift, ste_ap2

FLOATS = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.3, 0.25),  # log2 0.3 = -1.74 -> -2
        (0.75, 1.0),  # log2 0.75 = -0.415 -> 0: the linear midpoint of [0.5, 1] rounds up
        (3.0, 4.0),  # log2 3 = 1.585 -> 2
        (-5.0, -4.0),  # log2 5 = 2.32 -> 2, sign kept
        (-0.3, -0.25),
        (1e-3, 2.0**-10),  # log2 1e-3 = -9.97 -> -10
        (1.0, 1.0),
        (0.0, 0.0),
        (1.4, 1.0),  # just below sqrt(2) = 1.41421...
        (1.42, 2.0),  # just above
        (1e8, 2.0**27),  # log2 1e8 = 26.58 -> 27
    ],
)
def test_ap2_hand_values(x: float, expected: float, dtype: torch.dtype) -> None:
    out = ap2(torch.tensor([x], dtype=dtype))
    assert out.dtype == dtype
    assert out.item() == expected
    assert ap2_float(x) == expected


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_ap2_matches_the_log2_definition(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, generator=gen, dtype=dtype) * torch.exp2(
        torch.randint(-30, 30, (10_000,), generator=gen).to(dtype)
    )
    definition = torch.sign(x) * torch.exp2(torch.round(torch.log2(x.abs())))
    assert torch.equal(ap2(x), definition)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_powers_of_two_are_fixed_points_including_subnormals(dtype: torch.dtype) -> None:
    # From the smallest subnormal to the largest power of two.
    low, high = {torch.float32: (-149, 127), torch.float64: (-1074, 1023)}[dtype]
    exponents = range(low, high + 1)
    powers = torch.tensor([math.ldexp(1.0, k) for k in exponents], dtype=torch.float64).to(dtype)
    assert torch.equal(ap2(powers), powers)
    assert torch.equal(ap2(-powers), -powers)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_rounding_boundary_is_sqrt2_to_the_last_ulp(dtype: torch.dtype) -> None:
    # sqrt(2) * 2**k is irrational, so one float lies just below the boundary and the next above.
    for k in (-20, 0, 5):
        scale = 2.0**k
        above = torch.tensor(math.sqrt(2.0), dtype=dtype)
        if above.item() < math.sqrt(2.0):
            above = torch.nextafter(above, torch.tensor(2.0, dtype=dtype))
        below = torch.nextafter(above, torch.tensor(0.0, dtype=dtype))
        assert ap2(below * scale).item() == scale
        assert ap2(above * scale).item() == 2 * scale


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_results_are_powers_of_two(dtype: torch.dtype) -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1), dtype=dtype) * 1e3
    mantissa, _ = torch.frexp(ap2(x))
    assert torch.all(mantissa.abs() == 0.5)
    # Within a factor sqrt(2) of x.
    ratio = ap2(x) / x
    assert torch.all((ratio >= 2**-0.5) & (ratio <= 2**0.5))


def test_special_values() -> None:
    x = torch.tensor([float("inf"), -float("inf"), float("nan"), -0.0, 3.4e38])
    out = ap2(x)
    assert out[0] == float("inf") and out[1] == -float("inf")
    assert torch.isnan(out[2])
    assert out[3] == 0
    assert out[4] == float("inf")  # rounds up to 2**128, beyond float32
    with pytest.raises(TypeError, match="floating-point"):
        ap2(torch.tensor([3]))


def test_ap2_is_constant_and_ste_ap2_passes_gradients_through() -> None:
    x = torch.tensor([0.3, -5.0, 0.0], requires_grad=True)
    assert not ap2(x).requires_grad
    y = ste_ap2(x)
    assert torch.equal(y.detach(), ap2(x))
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([1.0, 2.0, 3.0]))


def test_shift_by_a_power_of_two_is_exact() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    by = ap2(torch.tensor(-0.3, dtype=torch.float64))  # -0.25: right shift by 2, sign flip
    out = shift(x, by)
    mantissa_x, exp_x = torch.frexp(x)
    mantissa_out, exp_out = torch.frexp(out)
    assert torch.equal(mantissa_out, -mantissa_x)
    assert torch.equal(exp_out, exp_x - 2)


def test_is_power_of_two() -> None:
    assert is_power_of_two(0.125) and is_power_of_two(-4.0) and is_power_of_two(1.0)
    assert not is_power_of_two(0.1) and not is_power_of_two(0.0)
    assert not is_power_of_two(float("inf"))
