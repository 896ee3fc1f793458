"""The sign family: 1-bit quantizers that differ in their surrogate gradient (STE, stochastic,
ApproxSign, SignSwish, magnitude-aware)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from onebit.quantizers.base import Quantizer, sign

# ---------------------------------------------------------------------------------------------
# Surrogate derivatives d(surrogate)/dx, used in the backward pass of the sign functions.


def _clipped_identity_derivative(x: torch.Tensor, clip_value: float | None) -> torch.Tensor:
    if clip_value is None:
        return torch.ones_like(x)
    return (x.abs() <= clip_value).to(x.dtype)


def _approx_sign_derivative(x: torch.Tensor) -> torch.Tensor:
    abs_x = x.abs()
    return torch.where(abs_x <= 1.0, 2.0 - 2.0 * abs_x, 0.0).to(x.dtype)


def _swish_sign_derivative(x: torch.Tensor, beta: float) -> torch.Tensor:
    bx = beta * x
    return beta * (2.0 - bx * torch.tanh(bx / 2.0)) / (1.0 + torch.cosh(bx))


class _SignWithSurrogate(torch.autograd.Function):
    """Forward ``sign(x)``; backward ``grad * derivative(x)`` for a given surrogate derivative."""

    @staticmethod
    def forward(x: torch.Tensor, derivative: Callable[[torch.Tensor], torch.Tensor]):
        return sign(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, derivative = inputs
        ctx.save_for_backward(x)
        ctx.derivative = derivative

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.derivative(x), None


class _StochasticSign(torch.autograd.Function):
    """Forward: +1 with probability hard_sigmoid(x), else -1; backward: clipped straight-through."""

    @staticmethod
    def forward(x: torch.Tensor, clip_value: float | None, generator: torch.Generator | None):
        probability = ((x + 1.0) / 2.0).clamp(0.0, 1.0)
        if generator is None:
            uniform = torch.rand_like(x)
        else:
            uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return torch.where(uniform < probability, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])
        ctx.clip_value = inputs[1]

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * _clipped_identity_derivative(x, ctx.clip_value), None, None


# ---------------------------------------------------------------------------------------------
# Functional quantizers.


def ste_sign(x: torch.Tensor, clip_value: float | None = 1.0) -> torch.Tensor:
    """Binarize with the straight-through estimator.

    Forward: ``q(x) = +1 if x >= 0 else -1``.
    Backward: ``dq/dx = 1 if |x| <= clip_value else 0`` (no clipping when ``clip_value`` is None).

    Args:
        x: the tensor to binarize.
        clip_value: the gradient is cancelled where ``|x|`` exceeds it.

    Reference: Courbariaux, Hubara, Soudry, El-Yaniv, Bengio, "Binarized Neural Networks: Training
    Deep Neural Networks with Weights and Activations Constrained to +1 or -1" (2016), eq. (4).
    """
    return _SignWithSurrogate.apply(
        x, functools.partial(_clipped_identity_derivative, clip_value=clip_value)
    )


def stochastic_sign(
    x: torch.Tensor,
    clip_value: float | None = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Binarize stochastically: ``+1`` with probability ``hard_sigmoid(x)``, else ``-1``.

    Forward: ``q(x) = +1 with p = clip((x + 1) / 2, 0, 1), -1 with 1 - p`` (so ``E[q(x)] = x``
    on [-1, 1]). Backward: the clipped straight-through estimator of ``ste_sign``.

    Args:
        x: the tensor to binarize.
        clip_value: the gradient is cancelled where ``|x|`` exceeds it.
        generator: the random source (a CPU generator); None uses torch's global generator, so
            ``torch.manual_seed`` makes a run repeatable.

    Reference: Courbariaux et al., "Binarized Neural Networks" (2016), eq. (2) and (3).
    """
    return _StochasticSign.apply(x, clip_value, generator)


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    """Binarize with Bi-Real Net's piecewise-polynomial gradient.

    Forward: ``q(x) = sign(x)``. Backward: ``dq/dx = 2 - 2|x|`` for ``|x| <= 1``, else 0 (the
    derivative of the piecewise quadratic ``ApproxSign`` function).

    Reference: Liu, Wu, Luo, Yang, Liu, Cheng, "Bi-Real Net: Enhancing the Performance of 1-bit
    CNNs With Improved Representational Capability and Advanced Training Algorithm" (ECCV 2018),
    eq. (5)-(6).
    """
    return _SignWithSurrogate.apply(x, _approx_sign_derivative)


def swish_sign(x: torch.Tensor, beta: float = 5.0) -> torch.Tensor:
    """Binarize with the SignSwish gradient of BNN+.

    Forward: ``q(x) = sign(x)``.
    Backward: ``dq/dx = beta * (2 - beta*x * tanh(beta*x / 2)) / (1 + cosh(beta*x))``.

    Args:
        x: the tensor to binarize.
        beta: sharpness of the swish surrogate; larger is closer to the true sign.

    Reference: Darabi, Belbahri, Courbariaux, Nia, "BNN+: Improved Binary Network Training"
    (2018), eq. (6)-(7).
    """
    return _SignWithSurrogate.apply(x, functools.partial(_swish_sign_derivative, beta=beta))


def magnitude_aware_sign(x: torch.Tensor, clip_value: float | None = 1.0) -> torch.Tensor:
    """Binarize weights and scale each output channel by its mean absolute value.

    Forward: ``q(w) = alpha_c * sign(w)`` with ``alpha_c = mean(|w_c|)`` over every axis but the
    first (PyTorch keeps output channels first). Backward: ``ste_sign``'s gradient times
    ``alpha_c``; ``alpha`` itself is treated as a constant, as Larq does.

    Reference: Rastegari et al., "XNOR-Net" (ECCV 2016), eq. (4) for the scale; Liu et al.,
    "Bi-Real Net" (ECCV 2018), sec. 3.3 for the magnitude-aware weight gradient.
    """
    reduce_dims = tuple(range(1, x.ndim))
    scale = (
        x.detach().abs().mean(dim=reduce_dims, keepdim=True) if reduce_dims else x.detach().abs()
    )
    return scale * ste_sign(x, clip_value=clip_value)


class SteSign(Quantizer):
    __doc__ = ste_sign.__doc__
    name = "ste_sign"
    precision = 1

    def __init__(self, clip_value: float | None = 1.0) -> None:
        super().__init__()
        self.clip_value = clip_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ste_sign(x, self.clip_value)

    def arguments(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}


class StochasticSign(Quantizer):
    """Module form of :func:`stochastic_sign`; deterministic ``ste_sign`` in eval mode.

    Args:
        clip_value: the gradient is cancelled where ``|x|`` exceeds it.
        seed: seeds a private generator whose state is saved in the module's ``state_dict``, so
            a resumed run draws the same numbers; None draws from torch's global generator
            (whose state the training loop's checkpoints save).

    Reference: Courbariaux et al., "Binarized Neural Networks" (2016), eq. (2) and (3).
    """

    name = "stochastic_sign"
    precision = 1

    def __init__(self, clip_value: float | None = 1.0, seed: int | None = None) -> None:
        super().__init__()
        self.clip_value = clip_value
        self.seed = seed
        self.generator: torch.Generator | None = None
        if seed is not None:
            self.generator = torch.Generator().manual_seed(int(seed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return ste_sign(x, self.clip_value)
        return stochastic_sign(x, self.clip_value, self.generator)

    def arguments(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value, "seed": self.seed}

    def get_extra_state(self) -> torch.Tensor:
        if self.generator is None:
            return torch.empty(0, dtype=torch.uint8)
        return self.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        if state.numel() and self.generator is not None:
            self.generator.set_state(state)


class ApproxSign(Quantizer):
    __doc__ = approx_sign.__doc__
    name = "approx_sign"
    precision = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return approx_sign(x)


class SwishSign(Quantizer):
    __doc__ = swish_sign.__doc__
    name = "swish_sign"
    precision = 1

    def __init__(self, beta: float = 5.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish_sign(x, self.beta)

    def arguments(self) -> dict[str, Any]:
        return {"beta": self.beta}


class MagnitudeAwareSign(Quantizer):
    __doc__ = magnitude_aware_sign.__doc__
    name = "magnitude_aware_sign"
    precision = 1

    def __init__(self, clip_value: float | None = 1.0) -> None:
        super().__init__()
        self.clip_value = clip_value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return magnitude_aware_sign(x, self.clip_value)

    def arguments(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}
