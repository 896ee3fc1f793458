"""Shift-based batch norm (arXiv:1602.02830, Algorithm 3) against hand-worked batches."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from onebit.nn.norm import ShiftBatchNorm1d, ShiftBatchNorm2d
from onebit.shift import ap2


def _hand_module() -> ShiftBatchNorm1d:
    bn = ShiftBatchNorm1d(2)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([3.0, -0.3]))  # AP2: [4, -0.25]
        bn.bias.copy_(torch.tensor([0.5, 0.0]))
    return bn


# One batch of 4 samples, 2 channels; column c is channel c.
HAND_X = torch.tensor([[1.0, 6.0], [2.0, 2.0], [4.0, 2.0], [9.0, 2.0]])


def test_train_forward_follows_algorithm_3_by_hand() -> None:
    # Channel 0: x = [1, 2, 4, 9]
    #   mu = 4;  C = [-3, -2, 0, 5];  AP2(C) = [-4, -2, 0, 4]
    #   apx variance = mean(C * AP2(C)) = mean([12, 4, 0, 20]) = 9   (exact variance 9.5)
    #   AP2(1 / sqrt(9 + eps)) = AP2(0.3333) = 0.25                  (log2 = -1.58 -> -2)
    #   xhat = C * 0.25 = [-0.75, -0.5, 0, 1.25]
    #   y = AP2(3) * xhat + 0.5 = 4 * xhat + 0.5 = [-2.5, -1.5, 0.5, 5.5]
    # Channel 1: x = [6, 2, 2, 2]
    #   mu = 3;  C = [3, -1, -1, -1];  AP2(C) = [4, -1, -1, -1]
    #   apx variance = mean([12, 1, 1, 1]) = 3.75                    (exact variance 3)
    #   AP2(1 / sqrt(3.75 + eps)) = AP2(0.5164) = 0.5                (log2 = -0.95 -> -1)
    #   xhat = [1.5, -0.5, -0.5, -0.5]
    #   y = AP2(-0.3) * xhat + 0 = -0.25 * xhat = [-0.375, 0.125, 0.125, 0.125]
    bn = _hand_module().train()
    y = bn(HAND_X)
    expected = torch.tensor([[-2.5, -0.375], [-1.5, 0.125], [0.5, 0.125], [5.5, 0.125]])
    assert torch.equal(y, expected)


def test_running_statistics_update_by_hand() -> None:
    # running = (1 - 0.1) * running + 0.1 * batch, variance made unbiased with m / (m - 1) = 4/3:
    #   mean: 0.9 * 0 + 0.1 * [4, 3]                    = [0.4, 0.3]
    #   var:  0.9 * 1 + 0.1 * [9, 3.75] * 4/3 = 0.9 + [1.2, 0.5] = [2.1, 1.4]
    bn = _hand_module().train()
    bn(HAND_X)
    torch.testing.assert_close(bn.running_mean, torch.tensor([0.4, 0.3]))
    torch.testing.assert_close(bn.running_var, torch.tensor([2.1, 1.4]))
    assert bn.num_batches_tracked.item() == 1


def test_cumulative_average_when_momentum_is_none() -> None:
    bn = ShiftBatchNorm1d(2, momentum=None).train()
    bn(HAND_X)
    bn(HAND_X + 2.0)
    torch.testing.assert_close(bn.running_mean, torch.tensor([5.0, 4.0]))  # mean of [4,3], [6,5]


def _eval_module() -> ShiftBatchNorm1d:
    bn = _hand_module()
    bn.running_mean.copy_(torch.tensor([1.0, -2.0]))
    bn.running_var.copy_(torch.tensor([3.0, 0.2]))
    return bn.eval()


def test_eval_forward_uses_running_statistics_by_hand() -> None:
    # AP2(1 / sqrt(running_var + eps)) = AP2([0.577, 2.236]) = [0.5, 2]   (log2 -0.79, 1.16)
    # scale = [0.5 * 4, 2 * -0.25] = [2, -0.5]
    # y = (x - running_mean) * scale + beta:
    #   channel 0: (2 - 1) * 2 + 0.5 = 2.5;     (-1 - 1) * 2 + 0.5 = -3.5
    #   channel 1: (0 + 2) * -0.5 + 0 = -1;     (4 + 2) * -0.5 + 0 = -3
    bn = _eval_module()
    y = bn(torch.tensor([[2.0, 0.0], [-1.0, 4.0]]))
    assert torch.equal(y, torch.tensor([[2.5, -1.0], [-3.5, -3.0]]))
    assert bn.num_batches_tracked.item() == 0  # eval never touches the statistics


def test_folded_by_hand() -> None:
    # scale = [2, -0.5]; shift = beta - running_mean * scale = [0.5 - 2, 0 - 1] = [-1.5, -1]
    scale, shift = _eval_module().folded()
    assert torch.equal(scale, torch.tensor([2.0, -0.5]))
    assert torch.equal(shift, torch.tensor([-1.5, -1.0]))
    assert not scale.requires_grad and not shift.requires_grad


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (ShiftBatchNorm1d, (5, 3)),
        (ShiftBatchNorm1d, (5, 3, 7)),
        (ShiftBatchNorm2d, (4, 3, 5, 6)),
    ],
)
def test_folded_matches_eval_forward_exactly(
    module: type, shape: tuple[int, ...], gen: torch.Generator
) -> None:
    bn = module(3)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(3, generator=gen))
        bn.bias.copy_(torch.randn(3, generator=gen))
    bn.train()
    for _ in range(3):
        bn(torch.randn(shape, generator=gen) * 3 + 1)
    bn.eval()
    x = torch.randn(shape, generator=gen) * 3 + 1
    scale, shift = bn.folded()
    view = (1, 3) + (1,) * (len(shape) - 2)
    assert torch.equal(bn(x), x * scale.view(view) + shift.view(view))
    # Same as Algorithm 3's order, (x - mean) * AP2(inv_std) * AP2(gamma) + beta, up to rounding.
    inv_std = ap2(torch.rsqrt(bn.running_var + bn.eps))
    ordered = (x - bn.running_mean.view(view)) * (inv_std * ap2(bn.weight)).view(view)
    torch.testing.assert_close(bn(x), ordered + bn.bias.view(view))
    assert torch.all(torch.frexp(scale)[0].abs() == 0.5)  # each scale is a power of two


def _powers_of_two_batch(gen: torch.Generator) -> torch.Tensor:
    """(N=2, C=3, 2, 2): channel c is mu_c +- 2**k_c with balanced signs, so every centered value,
    the variance 4**k_c and 1 / std = 2**-k_c are powers of two and AP2 changes nothing."""
    mus, ks = torch.tensor([0.5, -3.0, 10.0]), torch.tensor([0.0, 2.0, -1.0])
    signs = torch.tensor([1.0, -1.0] * 4)
    channels = [
        mu + signs[torch.randperm(8, generator=gen)] * 2**k for mu, k in zip(mus, ks, strict=True)
    ]
    return torch.stack(channels).view(3, 2, 2, 2).permute(1, 0, 2, 3).contiguous()


def test_equals_nn_batchnorm_when_everything_is_a_power_of_two(gen: torch.Generator) -> None:
    shift_bn, exact_bn = ShiftBatchNorm2d(3), nn.BatchNorm2d(3)
    with torch.no_grad():
        for bn in (shift_bn, exact_bn):
            bn.weight.copy_(torch.tensor([1.0, 0.5, -2.0]))
            bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = _powers_of_two_batch(gen)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_shift, y_exact = shift_bn(x1), exact_bn(x2)
    torch.testing.assert_close(y_shift, y_exact, rtol=1e-4, atol=1e-4)  # eps is the difference
    torch.testing.assert_close(shift_bn.running_mean, exact_bn.running_mean)
    torch.testing.assert_close(shift_bn.running_var, exact_bn.running_var)
    # With straight-through AP2 the gradients are those of exact batch norm, too.
    upstream = torch.randn(x.shape, generator=gen)
    (y_shift * upstream).sum().backward()
    (y_exact * upstream).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(shift_bn.weight.grad, exact_bn.weight.grad, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(shift_bn.bias.grad, exact_bn.bias.grad)
    # Eval with power-of-four running variances: again the same as nn.BatchNorm2d.
    for bn in (shift_bn, exact_bn):
        bn.running_var.copy_(torch.tensor([4.0, 0.25, 16.0]))
        bn.eval()
    with torch.no_grad():
        torch.testing.assert_close(shift_bn(x), exact_bn(x), rtol=1e-4, atol=1e-4)


def test_close_to_nn_batchnorm_in_general(gen: torch.Generator) -> None:
    # AP2 moves each factor by at most sqrt(2): the output stays normalized to within that.
    x = torch.randn(64, 4, 3, 3, generator=gen) * 5 + 2
    y = ShiftBatchNorm2d(4)(x)
    y_exact = nn.BatchNorm2d(4)(x)
    ratio = (y.std(dim=(0, 2, 3)) / y_exact.std(dim=(0, 2, 3))).detach()
    assert torch.all((ratio > 2**-1) & (ratio < 2**1))
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("module", "shape"),
    [(ShiftBatchNorm1d, (6, 3)), (ShiftBatchNorm1d, (6, 3, 4)), (ShiftBatchNorm2d, (6, 3, 4, 5))],
)
def test_shapes_and_gradients(module: type, shape: tuple[int, ...], gen: torch.Generator) -> None:
    bn = module(3)
    x = torch.randn(shape, generator=gen, requires_grad=True)
    y = bn(x)
    assert y.shape == x.shape
    (y * torch.randn(shape, generator=gen)).sum().backward()
    for grad in (x.grad, bn.weight.grad, bn.bias.grad):
        assert grad is not None and torch.all(torch.isfinite(grad)) and grad.abs().sum() > 0


def test_wrong_dimensions_and_single_values_are_refused() -> None:
    with pytest.raises(ValueError, match="2D or 3D"):
        ShiftBatchNorm1d(3)(torch.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="4D"):
        ShiftBatchNorm2d(3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ShiftBatchNorm1d(3)(torch.zeros(1, 3))


def test_state_dict_names_match_nn_batchnorm() -> None:
    assert ShiftBatchNorm2d(3).state_dict().keys() == nn.BatchNorm2d(3).state_dict().keys()
    bn = ShiftBatchNorm1d(3)
    bn.load_state_dict(nn.BatchNorm1d(3).state_dict())
    assert not isinstance(bn, nn.BatchNorm1d)  # never folded as an exact batch norm by mistake


def test_without_affine_or_running_statistics(gen: torch.Generator) -> None:
    x = torch.randn(8, 2, generator=gen)
    plain = ShiftBatchNorm1d(2, affine=False)
    assert plain.weight is None
    scale, _ = plain.eval().folded()
    assert torch.equal(scale, torch.ones(2))  # AP2(1 / sqrt(1 + eps)) = 1
    batch_only = ShiftBatchNorm1d(2, track_running_stats=False).eval()
    assert torch.equal(batch_only(x), batch_only.train()(x))  # batch statistics in both modes
    with pytest.raises(RuntimeError, match="running statistics"):
        batch_only.folded()


def test_config_round_trips_through_json() -> None:
    bn = ShiftBatchNorm2d(5, eps=1e-3, momentum=None, affine=False)
    config = json.loads(json.dumps(bn.get_config()))
    assert ShiftBatchNorm2d.from_config(config).get_config() == bn.get_config()


def test_multiplies_replaced() -> None:
    counts = ShiftBatchNorm2d.multiplies_replaced(2 * 3 * 4 * 4, 3)
    assert counts == {"per_element": 3, "per_channel": 0, "total": 3 * 96}
    counts = ShiftBatchNorm1d.multiplies_replaced(10, 5, training=False)
    assert counts == {"per_element": 1, "per_channel": 2, "total": 20}
