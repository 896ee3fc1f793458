"""Binary GEMM: the NumPy reference against torch's matmul on ±1 data (exact integers), and the
native kernel against the reference bit for bit, over every SIMD path this machine has and 1, 2
and 3 threads; plus argument checks and concurrent callers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, SIMD_PATHS, native, native_params
from onebit.runtime import reference

THREADS = (1, 2, 3)  # 3 is more than this 2-core machine has
CHANNELS = (1, 7, 31, 32, 33, 63, 64, 65, 127, 513)
SEEDS = [pytest.param(seed, id=f"seed{seed}") for seed in (0, 1)]


NATIVE = native_params("bgemm", threads=THREADS)
IMPLS = [pytest.param(reference.bgemm, id="reference"), *NATIVE]


def _operands(
    rng: np.random.Generator, m: int, n: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Packed ±1 rows (padding bits 0, as bitpack makes them) of shapes (m, W) and (n, W)."""
    a = reference.bitpack(rng.standard_normal((m, channels)).astype(np.float32))
    b = reference.bitpack(rng.standard_normal((n, channels)).astype(np.float32))
    return a, b


def _random_words(rng: np.random.Generator, rows: int, words: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(rows, words), dtype=np.uint64)


# --- level 1: the reference is the float product on ±1 data ------------------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_equals_float_matmul(seed: int, channels: int) -> None:
    a, b = _operands(np.random.default_rng(seed), 5, 9, channels)
    expected = (
        torch.from_numpy(reference.unpack(a, channels))
        @ torch.from_numpy(reference.unpack(b, channels)).T
    )
    got = reference.bgemm(a, b, channels)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected.numpy().astype(np.int32))


# --- level 2: every implementation equals the reference bit for bit -----------------------------


@pytest.mark.parametrize("bgemm", IMPLS)
@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("seed", SEEDS)
def test_bgemm_matches_reference(bgemm, seed: int, channels: int) -> None:
    a, b = _operands(np.random.default_rng(seed), 7, 13, channels)
    got = bgemm(a, b, channels)
    assert got.dtype == np.int32 and got.shape == (7, 13)
    np.testing.assert_array_equal(got, reference.bgemm(a, b, channels))


@pytest.mark.parametrize("bgemm", IMPLS)
@pytest.mark.parametrize(
    ("m", "n", "words"),
    [
        (1, 1, 1),
        (4, 6, 8),  # exactly one register tile
        (5, 7, 9),  # one past the tile in every direction
        (23, 25, 1),
        (49, 70, 64),  # split over N across threads
        (97, 45, 40),  # split over M across threads
        (3, 5, 255),
        (9, 11, 257),  # two K blocks of the SIMD paths
        (6, 9, 600),  # two K blocks of the scalar paths
        (70, 13, 115),  # AVX2 channel tile: 28 carry-save groups, a byte flush, 3 tail words
        (131, 17, 600),  # AVX2 channel tile: three row blocks, three K blocks of its panel
    ],
    ids=lambda v: str(v),
)
def test_bgemm_tiles_and_blocks(bgemm, m: int, n: int, words: int) -> None:
    """Edge tiles, K blocks and thread splits; all 64 bits of every word used, any k."""
    rng = np.random.default_rng(m * 1000 + n * 10 + words)
    a, b = _random_words(rng, m, words), _random_words(rng, n, words)
    for k in sorted({64 * words, 64 * words - 63}):
        np.testing.assert_array_equal(bgemm(a, b, k), reference.bgemm(a, b, k))


@pytest.mark.parametrize("bgemm", IMPLS)
@settings(max_examples=20, deadline=None)
@given(
    m=st.integers(1, 70),
    n=st.integers(1, 70),
    channels=st.one_of(st.sampled_from(CHANNELS), st.integers(1, 1200)),
    seed=st.integers(0, 2**32 - 1),
)
def test_bgemm_random_shapes(bgemm, m: int, n: int, channels: int, seed: int) -> None:
    a, b = _operands(np.random.default_rng(seed), m, n, channels)
    np.testing.assert_array_equal(bgemm(a, b, channels), reference.bgemm(a, b, channels))


@pytest.mark.parametrize("bgemm", IMPLS)
def test_bgemm_large_k_is_exact(bgemm) -> None:
    """K = 2^20 + 3 bits: extreme sums (all equal, all different) must not overflow or round."""
    channels = 2**20 + 3
    rng = np.random.default_rng(20)
    a, b = _operands(rng, 3, 5, channels)
    a[0] = b[0]  # identical rows: +k
    a[1] = reference.bitpack(-reference.unpack(b[1:2], channels))[0]  # opposite rows: -k
    got = bgemm(a, b, channels)
    np.testing.assert_array_equal(got, reference.bgemm(a, b, channels))
    assert got[0, 0] == channels and got[1, 1] == -channels


@pytest.mark.parametrize("bgemm", IMPLS)
@pytest.mark.parametrize("m", [3, 8], ids=lambda m: f"m{m}")  # the AVX2 path's two tiles
@pytest.mark.parametrize("words", [3, 111, 115, 123, 127, 600], ids=lambda w: f"words{w}")
def test_bgemm_extreme_sums(bgemm, m: int, words: int) -> None:
    """Rows equal to or the complement of the weights: every counter at its largest value."""
    rng = np.random.default_rng(words)
    b = _random_words(rng, 9, words)
    a = np.stack([b[i % 9] if i % 2 else ~b[i % 9] for i in range(m)])
    k = 64 * words
    got = bgemm(a, b, k)
    np.testing.assert_array_equal(got, reference.bgemm(a, b, k))
    assert got[0, 0] == -k and got[1, 1] == k


# --- native-only behaviour -----------------------------------------------------------------------


@NATIVE_MISSING
def test_simd_paths_and_threads_settings() -> None:
    paths = native.simd_paths()
    assert paths[-1] == "portable" and native.default_simd_path() == paths[0]
    before = native.get_num_threads()
    assert before >= 1
    try:
        native.set_num_threads(3)
        assert native.get_num_threads() == 3
        with pytest.raises(ValueError, match="n must be"):
            native.set_num_threads(0)
    finally:
        native.set_num_threads(before)


@NATIVE_MISSING
def test_the_report_of_simd_paths_splits_the_built_ones_into_run_and_not_runnable() -> None:
    from onebit.runtime import kernels

    runs, cannot = kernels.simd_paths()
    assert runs == list(native.simd_paths())
    assert sorted(runs + cannot) == sorted(kernels.BUILT_SIMD_PATHS)
    assert "portable" in runs and not set(runs) & set(cannot)


@NATIVE_MISSING
@pytest.mark.parametrize("simd", SIMD_PATHS)
def test_xor_popcount_peak_runs(simd: str) -> None:
    assert native.xor_popcount_peak(0.01, simd) > 0


@NATIVE_MISSING
def test_bgemm_writes_into_out() -> None:
    rng = np.random.default_rng(3)
    a, b = _random_words(rng, 6, 3), _random_words(rng, 8, 3)
    out = np.full((6, 8), 7, np.int32)
    result = native.bgemm(a, b, 150, out=out)
    assert result is out or np.shares_memory(result, out)
    np.testing.assert_array_equal(out, reference.bgemm(a, b, 150))
    with pytest.raises(TypeError, match="out must be int32"):
        native.bgemm(a, b, 150, out=np.zeros((6, 8), np.int64))
    with pytest.raises(ValueError, match=r"out must have shape \(6, 8\)"):
        native.bgemm(a, b, 150, out=np.zeros((8, 6), np.int32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        native.bgemm(a, b, 150, out=np.zeros((8, 6), np.int32).T)


WORDS = np.zeros((4, 2), np.uint64)
STRIDED = np.zeros((4, 4), np.uint64)[:, ::2]
TRANSPOSED = np.zeros((2, 4), np.uint64).T
BAD_INPUTS = {
    "a-int64": (WORDS.astype(np.int64), WORDS, 64, TypeError, "a must hold uint64"),
    "b-f32": (WORDS, WORDS.astype(np.float32), 64, TypeError, "b must hold uint64"),
    "a-1d": (WORDS[0], WORDS, 64, ValueError, "a must have 2 axes"),
    "b-3d": (WORDS, WORDS[None], 64, ValueError, "b must have 2 axes"),
    "W": (WORDS, np.zeros((4, 3), np.uint64), 64, ValueError, "same number of words"),
    "k0": (WORDS, WORDS, 0, ValueError, "k=0"),
    "k-negative": (WORDS, WORDS, -5, ValueError, "k=-5"),
    "k-too-large": (WORDS, WORDS, 129, ValueError, "k=129 must satisfy"),
    "a-strided": (STRIDED, WORDS, 64, ValueError, "a must be C-contiguous"),
    "b-transposed": (WORDS, TRANSPOSED, 64, ValueError, "b must be C-contiguous"),
    "a-list": ([[0, 1]], WORDS, 64, TypeError, "incompatible"),
}


@NATIVE_MISSING
@pytest.mark.parametrize(
    ("a", "b", "k", "error", "match"),
    [pytest.param(*case, id=name) for name, case in BAD_INPUTS.items()],
)
def test_bgemm_rejects_bad_input(a, b, k: int, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        native.bgemm(a, b, k)


@NATIVE_MISSING
def test_bgemm_rejects_unknown_simd_path() -> None:
    # A path of the other architecture: neon on x86, avx2 on aarch64.
    foreign = "avx2" if "neon" in SIMD_PATHS else "neon"
    with pytest.raises(ValueError, match=rf"simd='{foreign}' is not available.*portable"):
        native.bgemm(WORDS, WORDS, 64, simd=foreign)
    with pytest.raises(ValueError, match="threads must be >= 0"):
        native.bgemm(WORDS, WORDS, 64, threads=-2)


@NATIVE_MISSING
def test_bgemm_empty_rows() -> None:
    empty = np.zeros((0, 2), np.uint64)
    assert native.bgemm(empty, WORDS, 100).shape == (0, 4)
    assert native.bgemm(WORDS, empty, 100).shape == (4, 0)


@NATIVE_MISSING
@pytest.mark.parametrize("threads", [1, 2])
def test_concurrent_callers_get_correct_results(threads: int) -> None:
    """4 Python threads share the pool (GIL released): no deadlock, no mixed-up results."""
    rng = np.random.default_rng(4)
    cases = []
    for i in range(4):
        m, n, words = 40 + i, 90 - i, 33
        a, b = _random_words(rng, m, words), _random_words(rng, n, words)
        cases.append((a, b, 64 * words - i, reference.bgemm(a, b, 64 * words - i)))
    errors: list[str] = []

    def worker(index: int) -> None:
        a, b, k, expected = cases[index]
        for round_ in range(25):
            simd = SIMD_PATHS[(index + round_) % len(SIMD_PATHS)]
            if not np.array_equal(native.bgemm(a, b, k, threads=threads, simd=simd), expected):
                errors.append(f"thread {index} round {round_} ({simd})")

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool), "a caller hung"
    assert not errors, errors
