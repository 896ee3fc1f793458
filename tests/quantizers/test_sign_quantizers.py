"""The sign family: forward rule, sign(0) = +1, dtypes and Larq's surrogate gradients."""

from __future__ import annotations

import math

import pytest
import torch

from onebit import quantizers
from onebit.quantizers import approx_sign, magnitude_aware_sign, ste_sign, swish_sign

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
SIGN_FUNCTIONS = {
    "ste_sign": ste_sign,
    "approx_sign": approx_sign,
    "swish_sign": swish_sign,
}


def reference_sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def input_grad(fn, x: torch.Tensor, upstream: torch.Tensor | None = None) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    out = fn(x)
    out.backward(torch.ones_like(out) if upstream is None else upstream)
    return x.grad


# --- forward -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(SIGN_FUNCTIONS))
def test_forward_is_plus_minus_one_with_sign_of_zero_positive(
    name: str, dtype: torch.dtype
) -> None:
    x = torch.tensor([-3.0, -1.0, -1e-3, -0.0, 0.0, 1e-3, 0.5, 1.0, 7.0], dtype=dtype)
    out = SIGN_FUNCTIONS[name](x)
    assert out.dtype == dtype
    expected = torch.tensor([-1, -1, -1, 1, 1, 1, 1, 1, 1], dtype=dtype)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("name", sorted(SIGN_FUNCTIONS))
def test_forward_on_random_tensor_matches_reference_sign(name: str, gen: torch.Generator) -> None:
    x = torch.randn(4, 3, 5, 5, generator=gen)
    x[0, 0, 0, :] = 0.0
    out = SIGN_FUNCTIONS[name](x)
    assert out.shape == x.shape
    assert torch.equal(out, reference_sign(x))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_magnitude_aware_sign_output_dtype(dtype: torch.dtype) -> None:
    w = torch.tensor([[0.5, -1.5], [-0.25, 0.0]], dtype=dtype)
    out = magnitude_aware_sign(w)
    assert out.dtype == dtype
    assert torch.equal(out, torch.tensor([[1.0, -1.0], [-0.125, 0.125]], dtype=dtype))


# --- ste_sign ----------------------------------------------------------------------------------

GRID = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


@pytest.mark.parametrize(
    ("clip_value", "mask"),
    [
        (1.0, [0, 1, 1, 1, 1, 1, 0]),
        (0.5, [0, 0, 1, 1, 1, 0, 0]),
        (1.5, [1, 1, 1, 1, 1, 1, 1]),
        (None, [1, 1, 1, 1, 1, 1, 1]),
    ],
)
def test_ste_sign_gradient_is_upstream_where_abs_x_at_most_clip(
    clip_value: float | None, mask: list[int], gen: torch.Generator
) -> None:
    x = torch.tensor(GRID, dtype=torch.float64)
    upstream = torch.rand(len(GRID), generator=gen, dtype=torch.float64) + 0.5
    grad = input_grad(lambda t: ste_sign(t, clip_value=clip_value), x, upstream)
    assert torch.equal(grad, upstream * torch.tensor(mask, dtype=torch.float64))


def test_ste_sign_default_clip_value_is_one() -> None:
    x = torch.tensor(GRID, dtype=torch.float64)
    assert torch.equal(input_grad(ste_sign, x), input_grad(lambda t: ste_sign(t, 1.0), x))
    assert input_grad(ste_sign, x).tolist() == [0, 1, 1, 1, 1, 1, 0]


# --- approx_sign -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0, 2.0),
        (0.5, 1.0),
        (-0.5, 1.0),
        (-0.25, 1.5),
        (0.75, 0.5),
        (1.0, 0.0),
        (-1.0, 0.0),
        (2.0, 0.0),
        (-2.0, 0.0),
    ],
)
def test_approx_sign_gradient_hand_values(x: float, expected: float) -> None:
    grad = input_grad(approx_sign, torch.tensor([x], dtype=torch.float64))
    assert grad.item() == expected


def test_approx_sign_gradient_is_two_minus_two_abs_x(gen: torch.Generator) -> None:
    x = torch.rand(200, generator=gen, dtype=torch.float64) * 4 - 2
    upstream = torch.randn(200, generator=gen, dtype=torch.float64)
    grad = input_grad(approx_sign, x, upstream)
    expected = upstream * torch.where(x.abs() <= 1, 2 - 2 * x.abs(), torch.zeros_like(x))
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-15)


# --- swish_sign --------------------------------------------------------------------------------


def swish_grad_by_hand(x: float, beta: float) -> float:
    bx = beta * x
    return beta * (2 - bx * math.tanh(bx / 2)) / (1 + math.cosh(bx))


def sign_swish_surrogate(x: torch.Tensor, beta: float) -> torch.Tensor:
    s = torch.sigmoid(beta * x)
    return 2 * s * (1 + beta * x * (1 - s)) - 1


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0])
def test_swish_sign_gradient_at_zero_is_beta(beta: float) -> None:
    grad = input_grad(lambda t: swish_sign(t, beta=beta), torch.zeros(1, dtype=torch.float64))
    assert grad.item() == beta


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0])
def test_swish_sign_gradient_hand_values(beta: float) -> None:
    xs = [-2.0, -0.7, -0.1, 0.05, 0.3, 1.0, 2.5]
    grad = input_grad(lambda t: swish_sign(t, beta=beta), torch.tensor(xs, dtype=torch.float64))
    for value, x in zip(grad.tolist(), xs, strict=True):
        assert value == pytest.approx(swish_grad_by_hand(x, beta), rel=1e-12, abs=1e-300)


def test_swish_sign_default_beta_is_five() -> None:
    x = torch.tensor([0.0, 0.2], dtype=torch.float64)
    grad = input_grad(swish_sign, x)
    assert grad.tolist() == pytest.approx([5.0, swish_grad_by_hand(0.2, 5.0)], rel=1e-12)


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0])
def test_swish_sign_gradient_is_derivative_of_sign_swish_surrogate(
    beta: float, gen: torch.Generator
) -> None:
    x = torch.randn(300, generator=gen, dtype=torch.float64) * 1.5
    x_surrogate = x.clone().requires_grad_(True)
    sign_swish_surrogate(x_surrogate, beta).sum().backward()
    grad = input_grad(lambda t: swish_sign(t, beta=beta), x)
    torch.testing.assert_close(grad, x_surrogate.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_swish_sign_gradient_has_no_nan_for_large_inputs(dtype: torch.dtype) -> None:
    x = torch.tensor([100.0, -100.0, 1e4, -1e4, 30.0], dtype=dtype)
    grad = input_grad(swish_sign, x)
    assert torch.isfinite(grad).all()
    assert grad.abs().max().item() < 1e-8


# --- magnitude_aware_sign ----------------------------------------------------------------------


def test_magnitude_aware_sign_hand_values() -> None:
    w = torch.tensor([[0.5, -1.5], [-0.2, 0.0]], dtype=torch.float64)
    out = magnitude_aware_sign(w)
    torch.testing.assert_close(out, torch.tensor([[1.0, -1.0], [-0.1, 0.1]], dtype=torch.float64))
    # alpha = [1.0, 0.1] is a constant; |-1.5| > clip_value = 1 cancels that gradient.
    grad = input_grad(magnitude_aware_sign, w)
    torch.testing.assert_close(grad, torch.tensor([[1.0, 0.0], [0.1, 0.1]], dtype=torch.float64))


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2), (6, 3, 3, 3)])
@pytest.mark.parametrize("clip_value", [1.0, 0.5, None])
def test_magnitude_aware_sign_scales_each_output_channel(
    shape: tuple[int, ...], clip_value: float | None, gen: torch.Generator
) -> None:
    w = torch.randn(shape, generator=gen, dtype=torch.float64) * 1.2
    alpha = torch.stack([w[c].abs().mean() for c in range(shape[0])])
    alpha = alpha.view(-1, *([1] * (len(shape) - 1)))
    out = magnitude_aware_sign(w, clip_value=clip_value)
    torch.testing.assert_close(out, alpha * reference_sign(w), rtol=1e-14, atol=0)

    upstream = torch.randn(shape, generator=gen, dtype=torch.float64)
    grad = input_grad(lambda t: magnitude_aware_sign(t, clip_value=clip_value), w, upstream)
    mask = torch.ones_like(w) if clip_value is None else (w.abs() <= clip_value).to(w.dtype)
    torch.testing.assert_close(grad, alpha * upstream * mask, rtol=1e-14, atol=0)


# --- identity ----------------------------------------------------------------------------------


def test_identity_returns_input_and_passes_gradient(gen: torch.Generator) -> None:
    x = torch.randn(3, 4, generator=gen)
    assert quantizers.identity(x) is x
    upstream = torch.randn(3, 4, generator=gen)
    assert torch.equal(input_grad(quantizers.identity, x, upstream), upstream)
    assert torch.equal(quantizers.Identity()(x), x)


# --- modules hold their arguments and agree with the functions ---------------------------------

MODULE_CASES = [
    (quantizers.SteSign(), lambda t: ste_sign(t)),
    (quantizers.SteSign(clip_value=0.5), lambda t: ste_sign(t, 0.5)),
    (quantizers.SteSign(clip_value=None), lambda t: ste_sign(t, None)),
    (quantizers.ApproxSign(), approx_sign),
    (quantizers.SwishSign(), lambda t: swish_sign(t)),
    (quantizers.SwishSign(beta=2.0), lambda t: swish_sign(t, 2.0)),
    (quantizers.MagnitudeAwareSign(), lambda t: magnitude_aware_sign(t)),
    (quantizers.MagnitudeAwareSign(clip_value=0.5), lambda t: magnitude_aware_sign(t, 0.5)),
    (quantizers.DoReFa(k_bit=3), lambda t: quantizers.dorefa(t, 3)),
    (quantizers.DoReFa(k_bit=2, mode="weights"), lambda t: quantizers.dorefa(t, 2, "weights")),
    (quantizers.Identity(), quantizers.identity),
]


@pytest.mark.parametrize(
    ("module", "function"), [pytest.param(m, f, id=repr(m)) for m, f in MODULE_CASES]
)
def test_module_matches_function_forward_and_backward(module, function, gen) -> None:
    x = torch.randn(4, 6, generator=gen, dtype=torch.float64) * 1.5
    upstream = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    assert torch.equal(module(x), function(x))
    assert torch.equal(input_grad(module, x, upstream), input_grad(function, x, upstream))
