"""stochastic_sign: the hard-sigmoid probability, reproducible draws, saved generator state."""

from __future__ import annotations

import io
import math

import pytest
import torch

from onebit import quantizers
from onebit.quantizers import StochasticSign, ste_sign, stochastic_sign

POINTS = [-2.0, -1.0, -0.6, -0.2, 0.0, 0.3, 0.9, 1.0, 1.5]
DRAWS = 20_000


def frequency_of_plus_one(draw, x: torch.Tensor) -> torch.Tensor:
    out = draw(x.unsqueeze(1).expand(-1, DRAWS).contiguous())
    assert set(out.unique().tolist()) <= {-1.0, 1.0}
    return (out == 1).double().mean(dim=1)


def assert_hard_sigmoid_probability(frequency: torch.Tensor) -> None:
    """+1 with probability clip((x+1)/2, 0, 1); a 6-sigma bound, so it does not flake."""
    for x, f in zip(POINTS, frequency.tolist(), strict=True):
        p = min(max((x + 1) / 2, 0.0), 1.0)
        if p in (0.0, 1.0):
            assert f == p, f"x={x}: every draw must be {2 * p - 1:+.0f}"
        else:
            bound = 6 * math.sqrt(p * (1 - p) / DRAWS)
            assert abs(f - p) < bound, f"x={x}: frequency {f:.4f}, expected {p:.4f}"


def test_probability_of_plus_one_is_hard_sigmoid_with_generator(gen: torch.Generator) -> None:
    x = torch.tensor(POINTS)
    assert_hard_sigmoid_probability(
        frequency_of_plus_one(lambda t: stochastic_sign(t, generator=gen), x)
    )


def test_probability_of_plus_one_is_hard_sigmoid_with_global_generator() -> None:
    x = torch.tensor(POINTS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        frequency = frequency_of_plus_one(stochastic_sign, x)
    assert_hard_sigmoid_probability(frequency)


def test_probability_through_seeded_module_in_training_mode() -> None:
    module = StochasticSign(seed=5).train()
    assert_hard_sigmoid_probability(frequency_of_plus_one(module, torch.tensor(POINTS)))


def test_draws_are_not_all_equal_for_in_range_inputs(gen: torch.Generator) -> None:
    x = torch.zeros(1000)
    out = stochastic_sign(x, generator=gen)
    assert (out == 1).any() and (out == -1).any()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_output_dtype_and_values(dtype: torch.dtype, gen: torch.Generator) -> None:
    x = torch.randn(50, generator=gen).to(dtype)
    out = stochastic_sign(x, generator=gen)
    assert out.dtype == dtype
    assert set(out.unique().tolist()) <= {-1.0, 1.0}


def test_global_seed_makes_draws_reproducible() -> None:
    x = torch.linspace(-1, 1, 500)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        first = stochastic_sign(x)
        torch.manual_seed(7)
        again = stochastic_sign(x)
        torch.manual_seed(8)
        other = stochastic_sign(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_unseeded_module_draws_from_global_generator() -> None:
    x = torch.linspace(-1, 1, 500)
    module = StochasticSign()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        first = module(x)
        torch.manual_seed(3)
        again = module(x)
    assert torch.equal(first, again)


def test_modules_with_same_seed_agree_and_other_seeds_differ() -> None:
    x = torch.linspace(-1, 1, 500)
    a, b, c = StochasticSign(seed=11), StochasticSign(seed=11), StochasticSign(seed=12)
    for _ in range(3):
        out_a, out_b, out_c = a(x), b(x), c(x)
        assert torch.equal(out_a, out_b)
        assert not torch.equal(out_a, out_c)


def test_seeded_module_is_independent_of_global_generator() -> None:
    x = torch.linspace(-1, 1, 500)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        first = StochasticSign(seed=4)(x)
        torch.manual_seed(99)
        second = StochasticSign(seed=4)(x)
    assert torch.equal(first, second)


@pytest.mark.parametrize("fresh_seed", [21, 0], ids=["same-seed", "other-seed"])
def test_state_dict_mid_stream_reproduces_next_draws(fresh_seed: int) -> None:
    x = torch.linspace(-1, 1, 400)
    module = StochasticSign(seed=21)
    module(x)
    module(x)
    state = module.state_dict()
    expected = [module(x) for _ in range(3)]

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    fresh = StochasticSign(seed=fresh_seed)
    fresh.load_state_dict(torch.load(buffer))
    assert all(torch.equal(fresh(x), e) for e in expected)


def test_state_dict_is_a_snapshot_not_a_live_view() -> None:
    x = torch.linspace(-1, 1, 400)
    module = StochasticSign(seed=2)
    state = module.state_dict()
    first = module(x)
    module(x)
    module.load_state_dict(state)
    assert torch.equal(module(x), first)


def test_eval_mode_is_deterministic_ste_sign(gen: torch.Generator) -> None:
    x = torch.randn(200, generator=gen, dtype=torch.float64) * 0.5
    module = StochasticSign(clip_value=0.5, seed=3).eval()
    out = module(x)
    assert torch.equal(out, module(x))
    assert torch.equal(out, torch.where(x >= 0, 1.0, -1.0).double())
    xg, xs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    module(xg).sum().backward()
    ste_sign(xs, 0.5).sum().backward()
    assert torch.equal(xg.grad, xs.grad)


@pytest.mark.parametrize(
    ("clip_value", "mask"),
    [(1.0, [0, 1, 1, 1, 1, 1, 0]), (0.5, [0, 0, 1, 1, 1, 0, 0]), (None, [1] * 7)],
)
def test_backward_is_clipped_straight_through(
    clip_value: float | None, mask: list[int], gen: torch.Generator
) -> None:
    x = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], dtype=torch.float64)
    x.requires_grad_(True)
    upstream = torch.rand(7, generator=gen, dtype=torch.float64) + 0.5
    stochastic_sign(x, clip_value, gen).backward(upstream)
    assert torch.equal(x.grad, upstream * torch.tensor(mask, dtype=torch.float64))


def test_module_config_keeps_seed_and_clip_value() -> None:
    module = StochasticSign(clip_value=0.5, seed=9)
    assert module.get_config() == {"name": "stochastic_sign", "clip_value": 0.5, "seed": 9}
    rebuilt = quantizers.get(module.get_config())
    x = torch.linspace(-1, 1, 300)
    assert torch.equal(rebuilt(x), module(x))
