"""Where a call's values live (csrc/executor/value_arena.h): ``place_values`` puts values whose
lifetimes meet in disjoint, aligned bytes of one arena, reuses the bytes of values already dead,
and refuses bad lifetimes; a program's calls keep their arenas, so calls of any batch size, one
after another or on several threads at once, give the outputs of a fresh program."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_executor import native_program

from onebit.runtime.fuzz.seeds import cnn_seed, resize_seed

native = pytest.importorskip("onebit._native")

ALIGNMENT = 64
SLACK = 8  # a spare word past each value's end


def footprint(size: int) -> int:
    return -(-(size + SLACK) // ALIGNMENT) * ALIGNMENT


lifetimes = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 4)), min_size=0, max_size=40
).map(
    lambda values: [
        (size, first, first + span)
        for first, (size, span) in enumerate(values)  # one value written per op, in op order
    ]
)


@settings(max_examples=300, deadline=None)
@given(lifetimes)
def test_values_alive_together_never_share_bytes(values) -> None:
    sizes = [v[0] for v in values]
    offsets, arena = native.place_values(sizes, [v[1] for v in values], [v[2] for v in values])
    assert len(offsets) == len(values)
    spans = [
        (offset, offset + footprint(size)) for offset, size in zip(offsets, sizes, strict=True)
    ]
    assert all(offset % ALIGNMENT == 0 for offset in offsets)
    assert arena == max((end for _, end in spans), default=0)
    for i, (a, (_, first_a, last_a)) in enumerate(zip(spans, values, strict=True)):
        for b, (_, first_b, last_b) in zip(spans[i + 1 :], values[i + 1 :], strict=True):
            if first_a <= last_b and first_b <= last_a:  # live during a common op
                assert a[1] <= b[0] or b[1] <= a[0], (a, b)
    assert arena <= sum(footprint(size) for size in sizes)


def test_a_chain_reuses_the_bytes_of_dead_values() -> None:
    # Each value read only by the next op: two live at a time, so two slots serve all ten.
    offsets, arena = native.place_values([1000] * 10, list(range(10)), [i + 1 for i in range(10)])
    assert arena == 2 * footprint(1000)
    assert set(offsets) == {0, footprint(1000)}


@pytest.mark.parametrize(
    ("bytes_", "first", "last"),
    [
        ([8], [0], [0, 1]),
        ([-1], [0], [0]),
        ([2**36 + 1], [0], [0]),
        ([8], [2], [1]),
        ([8, 8], [1, 0], [1, 1]),
    ],
)
def test_bad_lifetimes_are_refused(bytes_, first, last) -> None:
    with pytest.raises(ValueError, match=r"^place_values: .*(per value|first <= last)"):
        native.place_values(bytes_, first, last)
    with pytest.raises(TypeError):  # beyond int64: nanobind refuses the conversion
        native.place_values([2**63], [0], [0])


@pytest.mark.parametrize("seed", [cnn_seed, resize_seed], ids=["cnn", "resize"])
def test_calls_that_share_a_programs_arenas_give_a_fresh_programs_outputs(seed) -> None:
    graph, tensors = seed()
    program = native_program(graph, tensors)
    shape = tuple(program.input_shape)
    rng = np.random.default_rng(0)
    batches = [rng.random((n, *shape), dtype=np.float32) for n in (1, 7, 2, 12, 1, 5)]
    expected = [native_program(graph, tensors).run(x, threads=1) for x in batches]
    for x, want in zip(batches * 2, expected * 2, strict=True):  # growing and shrinking arenas
        np.testing.assert_array_equal(program.run(x, threads=1), want)
    with ThreadPoolExecutor(4) as pool:  # calls at once: each its own arena
        for _ in range(5):
            got = list(pool.map(lambda x: program.run(x, threads=1), batches))
            for g, want in zip(got, expected, strict=True):
                np.testing.assert_array_equal(g, want)
