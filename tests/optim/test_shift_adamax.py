"""Shift-based AdaMax (arXiv:1602.02830, Algorithm 4) against hand-worked updates."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from onebit.nn.norm import ShiftBatchNorm1d
from onebit.optim.shift_adamax import PAPER_BETAS, PAPER_LR, ShiftAdaMax


def _param(values: list[float], dtype: torch.dtype = torch.float64) -> nn.Parameter:
    return nn.Parameter(torch.tensor(values, dtype=dtype))


def _step(opt: ShiftAdaMax, p: nn.Parameter, grad: list[float]) -> None:
    p.grad = torch.tensor(grad, dtype=p.dtype)
    opt.step()


def test_paper_defaults() -> None:
    opt = ShiftAdaMax([_param([0.0])])
    assert opt.defaults["lr"] == PAPER_LR == 2**-10
    assert opt.defaults["betas"] == PAPER_BETAS == (1 - 2**-3, 1 - 2**-10)


def test_two_steps_by_hand() -> None:
    # lr = 0.01, beta1 = 0.875, beta2 = 1 - 2**-10 = 0.9990234375, eps = 1e-8.
    p = _param([1.0, -0.5, 0.25])
    opt = ShiftAdaMax([p], lr=0.01)

    # Step 1, g = [0.3, -3, 0]
    #   m = 0.125 * g = [0.0375, -0.375, 0];  v = max(0, |g|) = [0.3, 3, 0]
    #   AP2(max(v, eps)) = [0.25, 4, 2**-27]        (log2: -1.74 -> -2, 1.58 -> 2, eps -> -27)
    #   step = AP2(0.01 / (1 - 0.875)) = AP2(0.08) = 0.0625       (log2 0.08 = -3.64 -> -4)
    #   theta -= 0.0625 * m / AP2(v) = 0.0625 * [0.15, -0.09375, 0] = [0.009375, -0.005859375, 0]
    _step(opt, p, [0.3, -3.0, 0.0])
    torch.testing.assert_close(
        p.data, torch.tensor([0.990625, -0.494140625, 0.25], dtype=torch.float64)
    )

    # Step 2, g = [0.1, 1, 2]
    #   m = 0.875 * m + 0.125 * g = [0.0453125, -0.203125, 0.25]
    #   v = max(beta2 * v, |g|) = [0.29970703125, 2.9970703125, 2]; AP2(v) = [0.25, 4, 2]
    #   step = AP2(0.01 / (1 - 0.875**2)) = AP2(0.04267) = 2**-5  (log2 = -4.55 -> -5)
    #   theta -= 2**-5 * [0.18125, -0.05078125, 0.125]
    _step(opt, p, [0.1, 1.0, 2.0])
    expected = [0.990625 - 0.18125 / 32, -0.494140625 + 0.05078125 / 32, 0.25 - 0.125 / 32]
    torch.testing.assert_close(p.data, torch.tensor(expected, dtype=torch.float64))
    state = opt.state[p]
    assert state["step"] == 2
    torch.testing.assert_close(
        state["exp_inf"], torch.tensor([0.29970703125, 2.9970703125, 2.0], dtype=torch.float64)
    )


def _reference(
    theta: list[float], grads: list[list[float]], lrs: list[float], betas: tuple[float, float]
) -> list[float]:
    """Algorithm 4 in plain Python, with AP2 written as its definition."""

    def ap2(x: float) -> float:
        return 0.0 if x == 0 else math.copysign(2.0 ** round(math.log2(abs(x))), x)

    b1, b2 = betas
    m, v = [0.0] * len(theta), [0.0] * len(theta)
    for t, (g, lr) in enumerate(zip(grads, lrs, strict=True), start=1):
        step = ap2(lr / (1 - b1**t))
        for i in range(len(theta)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = max(b2 * v[i], abs(g[i]))
            theta[i] -= step * m[i] / ap2(max(v[i], 1e-8))
    return theta


@pytest.mark.parametrize("betas", [PAPER_BETAS, (0.9, 0.999)], ids=["paper", "adam"])
def test_many_steps_match_the_reference(betas: tuple[float, float]) -> None:
    gen = torch.Generator().manual_seed(0)
    grads = (torch.randn(20, 5, generator=gen, dtype=torch.float64) * 0.1).tolist()
    theta = torch.randn(5, generator=gen, dtype=torch.float64).tolist()
    p = _param(theta)
    opt = ShiftAdaMax([p], lr=2**-6, betas=betas)
    for g in grads:
        _step(opt, p, g)
    expected = _reference(theta, grads, [2**-6] * 20, betas)
    torch.testing.assert_close(p.data, torch.tensor(expected, dtype=torch.float64))


def test_works_under_lambda_lr() -> None:
    gen = torch.Generator().manual_seed(1)
    grads = torch.randn(6, 4, generator=gen, dtype=torch.float64).tolist()
    theta = [0.5, -0.5, 0.1, 0.0]
    p = _param(theta)
    opt = ShiftAdaMax([p], lr=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.7**epoch)
    lrs = []
    for g in grads:
        lrs.append(opt.param_groups[0]["lr"])
        _step(opt, p, g)
        schedule.step()
    assert lrs[1] == pytest.approx(0.007)
    torch.testing.assert_close(
        p.data, torch.tensor(_reference(theta, grads, lrs, PAPER_BETAS), dtype=torch.float64)
    )


def test_state_dict_round_trip_resumes_exactly() -> None:
    gen = torch.Generator().manual_seed(2)
    grads = torch.randn(8, 2, 3, generator=gen).tolist()
    params = [nn.Parameter(torch.randn(3, generator=gen)), nn.Parameter(torch.randn(3))]
    opt = ShiftAdaMax(params, lr=2**-6, weight_decay=1e-4)

    def run(opt: ShiftAdaMax, params: list[nn.Parameter], steps: list[list[list[float]]]) -> None:
        for g in steps:
            for p, gp in zip(params, g, strict=True):
                p.grad = torch.tensor(gp)
            opt.step()

    run(opt, params, grads[:4])
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "params": [p.detach().clone() for p in params]}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    resumed_params = [nn.Parameter(p) for p in saved["params"]]
    resumed = ShiftAdaMax(resumed_params, lr=1.0)  # hyperparameters come from the state dict
    resumed.load_state_dict(saved["opt"])
    assert resumed.param_groups[0]["lr"] == 2**-6
    run(opt, params, grads[4:])
    run(resumed, resumed_params, grads[4:])
    for p, q in zip(params, resumed_params, strict=True):
        assert torch.equal(p, q)


def test_zero_gradients_give_no_update_and_missing_gradients_are_skipped() -> None:
    p, q = _param([1.0, 2.0]), _param([3.0])
    opt = ShiftAdaMax([p, q])
    _step(opt, p, [0.0, 0.0])
    assert torch.equal(p.data, torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert q not in opt.state


def test_bad_hyperparameters_are_refused() -> None:
    for kwargs in ({"lr": 0.0}, {"betas": (1.0, 0.5)}, {"eps": 0.0}, {"weight_decay": -1.0}):
        with pytest.raises(ValueError):
            ShiftAdaMax([_param([0.0])], **kwargs)


def test_multiplies_replaced() -> None:
    assert ShiftAdaMax.multiplies_replaced() == {"per_parameter": 5, "adamax_per_parameter": 5}
    assert ShiftAdaMax.multiplies_replaced((0.9, 0.999)) == {
        "per_parameter": 2,
        "adamax_per_parameter": 5,
    }
    assert ShiftAdaMax.multiplies_replaced(weight_decay=1e-4)["adamax_per_parameter"] == 6
    assert ShiftAdaMax.multiplies_replaced(weight_decay=2**-12)["per_parameter"] == 6


def test_short_training_run_with_shift_batchnorm_and_shift_adamax() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(256, 10, generator=gen)
    y = (x @ torch.randn(10, generator=gen) > 0).long()  # linearly separable labels
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 32), ShiftBatchNorm1d(32), nn.Hardtanh(), nn.Linear(32, 2))
    opt = ShiftAdaMax(model.parameters(), lr=2**-6)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(100):
        batch = slice((step % 4) * 64, (step % 4 + 1) * 64)
        opt.zero_grad()
        loss = loss_fn(model(x[batch]), y[batch])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    model.eval()
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.9
