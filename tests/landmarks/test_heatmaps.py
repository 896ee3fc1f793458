"""Heatmaps: rendering Gaussians at points and decoding them back, on many sizes and strides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit._registry import OnebitError
from onebit.landmarks import decode_heatmaps, render_heatmaps


@st.composite
def maps_and_points(draw):
    """A map size, a stride, a sigma and points whose map position is at least one pixel in."""
    height, width = draw(st.integers(3, 40)), draw(st.integers(3, 40))
    stride = draw(st.sampled_from([1, 2, 4]))
    sigma = draw(st.floats(0.6, 3.0))
    n, k = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    unit = st.floats(0.0, 1.0)
    q = np.array(draw(st.lists(st.tuples(unit, unit), min_size=n * k, max_size=n * k)))
    q = q.reshape(n, k, 2) * [width - 3, height - 3] + 1.0  # inside [1, size - 2]
    return (height, width), stride, sigma, (q + 0.5) * stride - 0.5


@settings(max_examples=60, deadline=None)
@given(maps_and_points())
def test_decoding_recovers_the_rendered_points(case) -> None:
    size, stride, sigma, points = case
    maps, given_mask = render_heatmaps(points, size, stride, sigma)
    assert maps.shape == (*points.shape[:2], *size) and maps.dtype == np.float32
    assert given_mask.all() and maps.max() <= 1.0
    exact = decode_heatmaps(maps, stride, refine="log-parabola")
    assert np.abs(exact - points).max() <= 2e-3 * stride  # float32 maps
    quarter = decode_heatmaps(maps, stride)
    assert np.abs(quarter - points).max() <= 0.25 * stride + 1e-6
    pixel = decode_heatmaps(maps, stride, refine="none")
    assert np.abs(pixel - points).max() <= 0.5 * stride + 1e-6
    assert np.array_equal((pixel + 0.5) / stride - 0.5, np.round((pixel + 0.5) / stride - 0.5))


def test_a_point_not_given_has_a_zero_map() -> None:
    points = np.array([[[3.0, 4.0], [np.nan, np.nan]]])
    maps, given_mask = render_heatmaps(points, (8, 8))
    assert given_mask.tolist() == [[True, False]]
    assert maps[0, 1].max() == 0 and maps[0, 0, 4, 3] == 1.0


def test_the_peak_sits_where_the_point_maps() -> None:
    maps, _ = render_heatmaps(np.array([[[9.5, 1.5]]]), (4, 6), stride=4, sigma=1.0)
    # (p + 0.5) / 4 - 0.5 = (2.0, 0.0): a map pixel centre
    assert np.unravel_index(maps[0, 0].argmax(), (4, 6)) == (0, 2) and maps.max() == 1.0


def test_no_refinement_at_a_border_and_ties_take_the_first() -> None:
    maps = np.zeros((1, 2, 3, 5))
    maps[0, 0, 0, 4] = 1.0  # top-right corner
    maps[0, 0, 1, 4] = 0.5
    maps[0, 1] = 0.25  # flat: the first pixel
    points = decode_heatmaps(maps)
    assert points.tolist() == [[[4.0, 0.0], [0.0, 0.0]]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: render_heatmaps(np.zeros((2, 2)), (4, 4)), r"\(N, K, 2\)"),
        (lambda: render_heatmaps(np.zeros((1, 1, 2)), (0, 4)), "size must be positive"),
        (lambda: render_heatmaps(np.zeros((1, 1, 2)), (4, 4), stride=0), "stride"),
        (lambda: render_heatmaps(np.zeros((1, 1, 2)), (4, 4), sigma=0), "sigma"),
        (lambda: decode_heatmaps(np.zeros((4, 4))), r"\(N, K, H, W\)"),
        (lambda: decode_heatmaps(np.full((1, 1, 2, 2), np.nan)), "finite"),
        (lambda: decode_heatmaps(np.zeros((1, 1, 2, 2)), refine="dark"), "refine must be"),
        (lambda: decode_heatmaps(np.zeros((1, 1, 2, 2)), stride=1.5), "stride"),
    ],
)
def test_bad_arguments_are_named(call, message) -> None:
    with pytest.raises(OnebitError, match=message):
        call()
