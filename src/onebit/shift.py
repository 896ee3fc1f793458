"""Approximate power-of-two arithmetic: AP2 and the binary shift ``≪≫``.

Courbariaux, Hubara, Soudry, El-Yaniv & Bengio, "Binarized Neural Networks: Training Deep Neural
Networks with Weights and Activations Constrained to +1 or -1" (arXiv:1602.02830), define in the
captions of Algorithm 3 (shift-based batch norm) and Algorithm 4 (shift-based AdaMax)::

    AP2(x) = sign(x) * 2**round(log2(|x|))      the approximate power-of-2 of x
    a ≪≫ b                                     "both left and right binary shift"

A product ``a * AP2(b)`` only adds ``round(log2|b|)`` to the exponent of ``a`` (and maybe flips its
sign): a left shift when the exponent is positive, a right shift when it is negative, hence ``≪≫``.
In floating point that product is *exact* (barring overflow to inf or underflow below the smallest
subnormal), so :func:`shift` is an ordinary multiplication that stands for the hardware shift and
gives bit-identical results to one.

Rounding rule. ``round`` acts on ``log2|x|``, so the boundary between ``2**k`` and ``2**(k+1)`` is
the geometric mean ``2**(k + 1/2) = sqrt(2) * 2**k``, an irrational number that no finite float
equals: there are no ties and no tie rule is needed. Values at the *linear* midpoint go up, e.g.
``AP2(0.75) = 1`` and ``AP2(3) = 4``, because ``0.75 > sqrt(1/2)``. This module decides the rounding
from the exact mantissa (``torch.frexp``) instead of a computed ``log2``, so values one ulp either
side of ``sqrt(2) * 2**k`` round correctly too. ``AP2(0) = 0``; inf and NaN pass through; with
``emax = floor(log2(max_float))``, a value at or above ``sqrt(2) * 2**emax`` rounds to
``2**(emax + 1)``, which overflows to inf.

Gradients. AP2 is piecewise constant, so its true derivative is zero almost everywhere.
:func:`ap2` returns a tensor outside the autograd graph (AP2 treated as a constant);
:func:`ste_ap2` passes the gradient straight through (AP2 treated as the identity), which is what
the shift-based layers use so that they train like their exact counterparts.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["ap2", "ap2_float", "is_power_of_two", "shift", "ste_ap2"]


@functools.cache
def _sqrt_half_ceil(dtype: torch.dtype) -> float:
    """The smallest ``dtype`` value >= sqrt(1/2): mantissas at or above it round up."""
    threshold = torch.tensor(math.sqrt(0.5), dtype=dtype)
    # math.sqrt(0.5) rounds above the irrational sqrt(1/2); a narrower dtype may round below it.
    if threshold.item() < math.sqrt(0.5):
        threshold = torch.nextafter(threshold, torch.ones((), dtype=dtype))
    return threshold.item()


def _ap2(x: torch.Tensor) -> torch.Tensor:
    if not x.is_floating_point():
        raise TypeError(f"ap2 needs a floating-point tensor, got {x.dtype}")
    magnitude = x.abs()
    mantissa, _ = torch.frexp(magnitude)  # magnitude = mantissa * 2**e, 1/2 <= mantissa < 1
    up = mantissa >= _sqrt_half_ceil(x.dtype)
    # magnitude / mantissa is exactly 2**e (a representable quotient is returned exactly by
    # IEEE division), and magnitude / (2 * mantissa) exactly 2**(e - 1).
    power = magnitude / torch.where(up, mantissa, 2.0 * mantissa)
    keep = (magnitude == 0) | ~torch.isfinite(x)  # 0, inf and NaN are their own AP2
    return torch.where(keep, x, torch.copysign(power, x))


class _SteAP2(torch.autograd.Function):
    """Forward AP2; backward the identity (straight-through)."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return _ap2(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


def ap2(x: torch.Tensor) -> torch.Tensor:
    """Approximate power-of-2, ``sign(x) * 2**round(log2|x|)`` (arXiv:1602.02830, Alg. 3 and 4).

    Exact: every nonzero finite result is a power of two, and powers of two (subnormals included)
    map to themselves. Works for every floating dtype. The result is detached from autograd: AP2 is
    treated as a constant. Use :func:`ste_ap2` for a straight-through gradient.

    Args:
        x: a floating-point tensor.

    Returns:
        A tensor like ``x``; ``ap2(0) = 0``, inf and NaN unchanged. See the module docstring for
        the rounding rule (there are no ties).
    """
    with torch.no_grad():
        return _ap2(x)


def ste_ap2(x: torch.Tensor) -> torch.Tensor:
    """AP2 forward (see :func:`ap2`); straight-through gradient ``d ste_ap2(x) / dx = 1``.

    The straight-through estimator makes a product ``a * ste_ap2(b)`` backpropagate like the exact
    product ``a * b``, so a shift-based layer gets the gradient of the exact layer evaluated at the
    approximated point. The zero gradient of the true derivative would cut every path through AP2
    (for instance, a scale ``AP2(gamma)`` would never learn).
    """
    return _SteAP2.apply(x)


def ap2_float(value: float) -> float:
    """AP2 of one Python float, with the same rule as :func:`ap2` (used for scalar step sizes)."""
    if value == 0 or not math.isfinite(value):
        return value
    mantissa, exponent = math.frexp(abs(value))
    # math.sqrt(0.5) lies above the irrational sqrt(1/2) and no double lies in between.
    power = math.ldexp(1.0, exponent if mantissa >= math.sqrt(0.5) else exponent - 1)
    return math.copysign(power, value)


def is_power_of_two(value: float) -> bool:
    """True when ``value`` is ``+-2**k`` for an integer ``k``, so a product by it is a shift."""
    return value != 0 and math.isfinite(value) and math.frexp(abs(value))[0] == 0.5


def shift(x: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
    """``x ≪≫ by``: multiply ``x`` by a signed power of two, e.g. ``by = ap2(b)``.

    This is the paper's ``x ≪≫ AP2(b)``: shift ``x`` left by ``log2|by|`` bits when positive, right
    when negative, and flip the sign when ``by < 0``. In floating point the product is exact (only
    the exponent changes), so it equals what a shifter computes; it is written as a multiplication
    because that is the fastest exact way to do it on CPUs and GPUs. ``by`` is not checked: with a
    ``by`` that is not a power of two this is an ordinary (rounded) product.
    """
    return x * by
