"""Shift-based batch normalization: batch norm whose multiplications are binary shifts.

Algorithm 3 of Courbariaux, Hubara, Soudry, El-Yaniv & Bengio, "Binarized Neural Networks:
Training Deep Neural Networks with Weights and Activations Constrained to +1 or -1"
(arXiv:1602.02830), "Shift based Batch Normalizing Transform, applied to activation x over a
mini-batch", per channel over the mini-batch ``B = {x_1..m}``::

    mu_B     <- 1/m sum_i x_i                                  mini-batch mean
    C(x_i)   <- x_i - mu_B                                     centered input
    sigma2_B <- 1/m sum_i C(x_i) ≪≫ AP2(C(x_i))                apx variance
    xhat_i   <- C(x_i) ≪≫ AP2((sqrt(sigma2_B + eps))^-1)       normalize
    y_i      <- AP2(gamma) ≪≫ xhat_i                           scale and shift

with ``AP2(x) = sign(x) * 2**round(log2|x|)`` and ``≪≫`` a left or right binary shift (see
:mod:`onebit.shift`). The three per-element products of batch norm (the square in the variance,
the normalization and the scale) become shifts.

Where the paper is silent, these modules choose:

* **beta.** The algorithm lists ``beta`` among the parameters and calls the last line "scale and
  shift" but writes only ``AP2(gamma) ≪≫ xhat``. Here ``y = AP2(gamma) ≪≫ xhat + beta`` (an
  addition, no multiply), as in the authors' Torch code (``BatchNormalizationShiftPow2``).
* **Gradients of AP2.** Straight-through (:func:`onebit.shift.ste_ap2`): the backward pass is that
  of ordinary batch norm evaluated at the approximated values, so ``gamma`` learns and the
  variance path of the batch-norm gradient is kept. With a zero gradient ``gamma`` would never
  change.
* **Inference.** As ``nn.BatchNorm``: ``running_mean`` and ``running_var`` are exponential moving
  averages (``momentum``; ``None`` for a cumulative average) of the batch mean and of the
  approximate variance, the latter with the unbiased factor ``m / (m - 1)`` as PyTorch does. Eval
  mode applies the same approximations to them::

      y = (x - running_mean) ≪≫ AP2(1 / sqrt(running_var + eps)) ≪≫ AP2(gamma) + beta
        = x * scale + shift,   scale = AP2(1 / sqrt(running_var + eps)) * AP2(gamma)
                               shift = beta - running_mean * scale

  ``scale`` is a signed power of two (a product of two), so ``x * scale`` is one shift per element.
  Eval mode computes the second form, which is what :meth:`folded` returns, so eval output equals
  ``x * scale + shift`` bit for bit; it differs from the first form only by the rounding of two
  additions (all products by ``scale`` are exact).

The modules subclass ``_BatchNorm`` (same arguments, parameters ``weight``/``bias`` and buffers
``running_mean``/``running_var``/``num_batches_tracked``) but not ``nn.BatchNorm1d``/``2d``, so
code that folds an exact batch norm does not silently take them for one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from onebit.shift import ste_ap2

__all__ = ["ShiftBatchNorm1d", "ShiftBatchNorm2d"]


def _per_channel(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return p.view(1, -1, *([1] * (x.ndim - 2)))


class _ShiftBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Algorithm 3 of arXiv:1602.02830 on dimension 1 of the input; see the module docstring."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        if not self.training and self.running_mean is not None and self.running_var is not None:
            scale, shift = self._eval_affine()
            return input * _per_channel(scale, input) + _per_channel(shift, input)
        return self._batch_forward(input, self._update_factor())

    def _update_factor(self) -> float | None:
        """The weight of this batch in the running statistics; None when they are not updated."""
        if not (self.training and self.track_running_stats):
            return None
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average, as nn.BatchNorm
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def _batch_forward(self, x: torch.Tensor, factor: float | None) -> torch.Tensor:
        """Algorithm 3 on the mini-batch statistics; updates the running ones with ``factor``."""
        dims = [0, *range(2, x.ndim)]
        m = x.numel() // x.shape[1]
        if m < 2:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {x.shape}"
            )
        mean = x.mean(dims, keepdim=True)  # mini-batch mean
        centered = x - mean  # centered input C(x_i)
        var = (centered * ste_ap2(centered)).mean(dims, keepdim=True)  # apx variance
        x_hat = centered * ste_ap2(torch.rsqrt(var + self.eps))  # normalize
        y = x_hat if self.weight is None else _per_channel(ste_ap2(self.weight), x) * x_hat
        if self.bias is not None:
            y = y + _per_channel(self.bias, x)  # the paper's "scale and shift" omits beta
        if factor is not None and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                batch_mean = mean.detach().flatten()
                unbiased_var = var.detach().flatten() * (m / (m - 1))
                self.running_mean.copy_(factor * batch_mean + (1 - factor) * self.running_mean)
                self.running_var.copy_(factor * unbiased_var + (1 - factor) * self.running_var)
        return y

    def _eval_affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.running_mean is not None and self.running_var is not None
        scale = ste_ap2(torch.rsqrt(self.running_var + self.eps))
        if self.weight is not None:
            scale = ste_ap2(self.weight) * scale  # a product of powers of two: exact
        shift = -self.running_mean * scale  # exact: scale is a power of two
        if self.bias is not None:
            shift = self.bias + shift
        return scale, shift

    @torch.no_grad()
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The eval-mode per-channel affine map, for the packed-engine converter.

        Returns:
            ``(scale, shift)``, each of shape ``(num_features,)`` in the buffers' dtype, with
            ``scale = AP2(1 / sqrt(running_var + eps)) * AP2(weight)`` a signed power of two (or
            zero when a ``weight`` is zero) and ``shift = bias - running_mean * scale``. The
            eval-mode forward is exactly ``x * scale + shift`` per channel: it is computed that way.

        Raises:
            RuntimeError: without running statistics (``track_running_stats=False``).
        """
        if self.running_mean is None or self.running_var is None:
            raise RuntimeError(f"{type(self).__name__} without running statistics has no eval map")
        scale, shift = self._eval_affine()
        return scale.detach().clone(), shift.detach().clone()

    @staticmethod
    def multiplies_replaced(
        num_elements: int, num_channels: int = 0, *, training: bool = True
    ) -> dict[str, int]:
        """How many multiplications of exact batch norm become shifts, forward pass only.

        Training (Algorithm 3 against Ioffe & Szegedy's Algorithm 1): per element the square in
        the variance, the normalization and the scale by ``gamma``, 3 in all; per channel none (the
        ``1/m`` of the two means and ``1/sqrt`` remain). Eval, against batch norm folded to
        ``x * s + t``: 1 per element (``x * scale``) and 2 per channel (``gamma * inv_std`` and
        ``running_mean * scale``, both products of powers of two here).

        Args:
            num_elements: elements of the input tensor (``N*C`` or ``N*C*L`` or ``N*C*H*W``).
            num_channels: channels ``C``, for the per-channel count.
            training: count training mode (batch statistics) or eval mode (running statistics).

        Returns:
            ``{"per_element": ..., "per_channel": ..., "total": ...}``.
        """
        per_element, per_channel = (3, 0) if training else (1, 2)
        total = per_element * num_elements + per_channel * num_channels
        return {"per_element": per_element, "per_channel": per_channel, "total": total}

    def get_config(self) -> dict[str, Any]:
        return {
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
            "track_running_stats": self.track_running_stats,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _ShiftBatchNorm:
        return cls(**config)


class ShiftBatchNorm1d(_ShiftBatchNorm):
    """Shift-based batch norm (arXiv:1602.02830, Algorithm 3) for ``(N, C)`` or ``(N, C, L)``.

    A drop-in for ``nn.BatchNorm1d``: same arguments, parameter and buffer names. Training mode
    follows Algorithm 3 with ``+ beta`` added; eval mode applies the same power-of-two
    approximations to the running statistics; AP2 has a straight-through gradient. See
    :mod:`onebit.nn.norm` for the algorithm and the choices where the paper is silent.

    Args:
        num_features: channels ``C``.
        eps: added to the variance before the inverse square root.
        momentum: weight of the current batch in the running statistics; ``None`` for a
            cumulative average.
        affine: learn ``weight`` (gamma, used through ``AP2``) and ``bias`` (beta).
        track_running_stats: keep running statistics for eval mode; without them eval mode uses
            the batch statistics.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class ShiftBatchNorm2d(_ShiftBatchNorm):
    """Shift-based batch norm (arXiv:1602.02830, Algorithm 3) for ``(N, C, H, W)`` inputs.

    A drop-in for ``nn.BatchNorm2d``; arguments and behaviour as :class:`ShiftBatchNorm1d`.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")
