"""Float GEMM: the native kernel on every SIMD path this machine has, on 1 and 2 threads, and the
NumPy reference, each against the float64 product within float32 summation error; the thread
count never changes the native result; argument checks."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, native, native_params
from onebit.runtime import reference

THREADS = (1, 2)
# Around every path's vector width (4, 8, 16) and tiles; 300 crosses the 256-wide K and N blocks.
SIZES = (1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 129, 300)


NATIVE = native_params("sgemm", threads=THREADS)
IMPLS = [pytest.param(reference.sgemm, id="reference"), *NATIVE]


def _operands(seed: int, m: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)


def _assert_product(got: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """``got`` is ``a @ b`` within float32 summation error: rtol 1e-5, atol 1e-5 * sqrt(K) (the
    sum of K unit-variance products has a magnitude of about sqrt(K))."""
    assert got.dtype == np.float32 and got.shape == (a.shape[0], b.shape[1])
    assert got.flags.c_contiguous
    expected = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.sqrt(max(a.shape[1], 1)))


@pytest.mark.parametrize("sgemm", IMPLS)
@settings(max_examples=40, deadline=None)
@given(
    m=st.one_of(st.sampled_from(SIZES), st.integers(1, 300)),
    k=st.one_of(st.sampled_from(SIZES), st.integers(1, 300)),
    n=st.one_of(st.sampled_from(SIZES), st.integers(1, 300)),
    seed=st.integers(0, 2**32 - 1),
)
def test_sgemm_random_shapes(sgemm, m: int, k: int, n: int, seed: int) -> None:
    a, b = _operands(seed, m, k, n)
    _assert_product(sgemm(a, b), a, b)


@pytest.mark.parametrize("sgemm", IMPLS)
@pytest.mark.parametrize(
    ("m", "k", "n"),
    [
        (1, 1, 1),
        (6, 5, 64),  # exactly one AVX-512 tile
        (7, 1, 65),  # one past it in every direction, K = 1
        (16, 9, 16),  # a 16 x 1-vector tile
        (13, 2, 33),  # 12 x 2-vector tiles and a masked column
        (9, 3, 40),  # 8 x 3-vector tiles
        (1, 300, 17),  # one row: the matrix-vector tiles
        (1, 512, 1000),  # ... split over N across threads
        (300, 300, 300),  # split over M; two K blocks and two N blocks
        (49, 256, 512),  # split over N with a short last task
    ],
    ids=str,
)
def test_sgemm_tiles_blocks_and_splits(sgemm, m: int, k: int, n: int) -> None:
    a, b = _operands(m * 10_000 + k * 100 + n, m, k, n)
    _assert_product(sgemm(a, b), a, b)


@pytest.mark.parametrize("sgemm", IMPLS)
@pytest.mark.parametrize(("m", "k", "n"), [(0, 5, 3), (4, 5, 0), (0, 0, 0), (3, 0, 4)], ids=str)
def test_sgemm_empty(sgemm, m: int, k: int, n: int) -> None:
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    got = sgemm(a, b)
    assert got.shape == (m, n) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.zeros((m, n), np.float32))  # K = 0 sums nothing


@NATIVE_MISSING
@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize(
    ("m", "k", "n"),
    [(300, 300, 300), (1, 512, 1000), (25, 512, 100)],  # split M, split N, a 1-row task
    ids=str,
)
def test_sgemm_threads_do_not_change_the_result(simd: str, m: int, k: int, n: int) -> None:
    """Each output is one sum in increasing k, whichever thread and tile computes it."""
    a, b = _operands(7, m, k, n)
    one = native.sgemm(a, b, threads=1, simd=simd)
    np.testing.assert_array_equal(native.sgemm(a, b, threads=2, simd=simd), one)
    np.testing.assert_array_equal(native.sgemm(a, b, threads=3, simd=simd), one)


@NATIVE_MISSING
@pytest.mark.parametrize("simd", SIMD_PATHS)
@pytest.mark.parametrize(("k", "n"), [(300, 256), (64, 40), (147, 64), (5, 17)], ids=str)
def test_sgemm_rows_do_not_depend_on_the_call(simd: str, k: int, n: int) -> None:
    """A row is the same sums whether its call has many rows (the AVX2 path packs b's panels from
    96 rows on) or a few (it reads b in place)."""
    a, b = _operands(k * 1000 + n, 250, k, n)
    whole = native.sgemm(a, b, threads=1, simd=simd)
    for rows in (slice(0, 1), slice(0, 7), slice(100, 195), slice(195, 250)):
        part = native.sgemm(np.ascontiguousarray(a[rows]), b, threads=1, simd=simd)
        np.testing.assert_array_equal(part, whole[rows], err_msg=f"rows {rows}")


@NATIVE_MISSING
def test_sgemm_concurrent_callers() -> None:
    """Two Python threads in the kernel at once (the pool serves one; the other runs inline)."""
    a, b = _operands(11, 300, 200, 300)
    expected = native.sgemm(a, b, threads=1)
    results: list[np.ndarray] = []
    workers = [
        threading.Thread(target=lambda: results.append(native.sgemm(a, b, threads=2)))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(results) == 4
    for got in results:
        np.testing.assert_array_equal(got, expected)


MATRIX = np.zeros((4, 3), np.float32)
BAD_INPUTS = {
    "a-float64": (MATRIX.astype(np.float64), MATRIX.T.copy(), TypeError, "a must be float32"),
    "b-int32": (MATRIX, MATRIX.T.astype(np.int32), TypeError, "b must be float32"),
    "a-1d": (MATRIX[0], MATRIX.T.copy(), ValueError, "a must have 2 axes"),
    "b-3d": (MATRIX, MATRIX.T.copy()[None], ValueError, "b must have 2 axes"),
    "K": (MATRIX, MATRIX.copy(), ValueError, "must agree on K"),
    "a-strided": (np.zeros((4, 6), np.float32)[:, ::2], MATRIX.T.copy(), ValueError, "a must be C"),
    "b-transposed": (MATRIX, MATRIX.T, ValueError, "b must be C-contiguous"),
}


@pytest.mark.parametrize("sgemm", IMPLS)
@pytest.mark.parametrize(
    ("a", "b", "error", "match"),
    [pytest.param(*case, id=name) for name, case in BAD_INPUTS.items()],
)
def test_sgemm_rejects_bad_inputs(sgemm, a, b, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sgemm(a, b)


@pytest.mark.parametrize("sgemm", IMPLS)
def test_sgemm_rejects_a_list(sgemm) -> None:
    with pytest.raises(TypeError):
        sgemm([[1.0, 2.0]], MATRIX[:2])


@NATIVE_MISSING
def test_sgemm_rejects_bad_threads_and_simd() -> None:
    with pytest.raises(ValueError, match="threads must be >= 0"):
        native.sgemm(MATRIX, MATRIX.T.copy(), threads=-1)
    with pytest.raises(ValueError, match="simd='avx9000' is not available"):
        native.sgemm(MATRIX, MATRIX.T.copy(), simd="avx9000")
