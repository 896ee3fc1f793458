"""The IDX reader and the MNIST-style directory loader."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from onebit._registry import OnebitError
from onebit.data.mnist_idx import MNIST_FILES, load_mnist_idx, read_idx

IdxWriter = Callable[..., Path]

IDX_ELEMENT_TYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    array=arrays(
        dtype=st.sampled_from(IDX_ELEMENT_TYPES),
        shape=array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    ),
    compress=st.booleans(),
)
def test_read_idx_round_trips_exactly(
    tmp_path: Path, idx_writer: IdxWriter, array: np.ndarray, compress: bool
) -> None:
    result = read_idx(idx_writer(tmp_path / "array.idx", array, compress))
    assert result.dtype == array.dtype
    assert result.shape == array.shape
    assert result.tobytes() == array.tobytes()  # bit for bit, NaN payloads included
    assert result.flags.writeable


def test_gzip_is_detected_by_content_not_name(tmp_path: Path, idx_writer: IdxWriter) -> None:
    array = np.arange(12, dtype=np.int16).reshape(3, 4) - 6
    compressed_without_suffix = idx_writer(tmp_path / "a-idx2-short", array, compress=True)
    plain_with_suffix = idx_writer(tmp_path / "b-idx2-short.gz", array)
    np.testing.assert_array_equal(read_idx(compressed_without_suffix), array)
    np.testing.assert_array_equal(read_idx(plain_with_suffix), array)


MALFORMED = {
    "truncated": (
        lambda ok: ok[:-1],
        "is truncated: its header promises 24 bytes of int32 data for shape (2, 3)",
    ),
    "trailing": (lambda ok: ok + b"\0", "has trailing bytes"),
    "magic": (lambda ok: b"\x01" + ok[1:], "it starts with bytes 01 00, not 00 00"),
    "type-code": (lambda ok: ok[:2] + b"\x0a" + ok[3:], "unknown IDX type code 0x0A"),
    "no-dims": (lambda ok: ok[:3] + b"\0" + ok[4:], "gives 0 dimensions"),
    "short-header": (lambda ok: ok[:9], "truncated inside its header of 2 dimensions"),
    "two-bytes": (lambda ok: ok[:2], "only 2 bytes long"),
    "empty": (lambda ok: b"", "only 0 bytes long"),
    "huge-shape": (  # promises 2**96 bytes; must fail without trying to allocate them
        lambda ok: b"\0\0\x08\x03" + b"\xff" * 12 + b"\0" * 8,
        "is truncated",
    ),
    "truncated-gzip": (lambda ok: gzip.compress(ok)[:-6], "cannot read IDX file"),
    "bad-gzip": (lambda ok: b"\x1f\x8b" + b"not really gzip", "cannot read IDX file"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_are_refused(tmp_path: Path, idx_writer: IdxWriter, case: str) -> None:
    mutate, message = MALFORMED[case]
    valid = idx_writer(tmp_path / "ok", np.arange(6, dtype=np.int32).reshape(2, 3)).read_bytes()
    path = tmp_path / "bad-idx"
    path.write_bytes(mutate(valid))
    with pytest.raises(OnebitError, match="bad-idx") as error:
        read_idx(path)
    assert message in str(error.value)


def test_load_mnist_idx_reads_exact_pixels(
    mnist_dir: Path, mnist_arrays: dict[str, np.ndarray]
) -> None:
    splits = load_mnist_idx(mnist_dir)
    assert splits.name == "mnist"
    assert splits.input_shape == (1, 4, 6)
    np.testing.assert_array_equal(
        splits.x_train, mnist_arrays["train-images-idx3-ubyte"][:, None] / np.float32(255)
    )
    np.testing.assert_array_equal(splits.y_train, [0, 3, 9, 1, 3])
    np.testing.assert_array_equal(
        splits.x_test, mnist_arrays["t10k-images-idx3-ubyte"][:, None] / np.float32(255)
    )
    np.testing.assert_array_equal(splits.y_test, [2, 0, 7])
    assert splits.classes == tuple(str(d) for d in range(10))


@pytest.mark.parametrize("spelling", ["dot", "gzip", "dot-gzip"])
def test_load_mnist_idx_accepts_other_spellings(
    tmp_path: Path, idx_writer: IdxWriter, mnist_arrays: dict[str, np.ndarray], spelling: str
) -> None:
    for name, array in mnist_arrays.items():
        if "dot" in spelling:
            name = name.replace("-idx", ".idx")
        if "gzip" in spelling:
            name += ".gz"
        idx_writer(tmp_path / name, array, compress="gzip" in spelling)
    splits = load_mnist_idx(tmp_path)
    np.testing.assert_array_equal(splits.y_test, [2, 0, 7])


def test_missing_file_lists_the_names_looked_for(mnist_dir: Path) -> None:
    (mnist_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(OnebitError, match="no test labels file in") as error:
        load_mnist_idx(mnist_dir)
    for name in ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte.gz"):
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("name", "array", "message"),
    [
        ("train-labels-idx1-ubyte", np.zeros(4, np.uint8), "has 4 labels but"),
        ("t10k-images-idx3-ubyte", np.zeros((3, 24), np.uint8), "expected 3-D ubyte images"),
        ("train-images-idx3-ubyte", np.zeros((5, 4, 6), np.float32), "got float32"),
        ("t10k-labels-idx1-ubyte", np.zeros(3, np.int32), "expected 1-D ubyte labels"),
        ("t10k-images-idx3-ubyte", np.zeros((3, 5, 5), np.uint8), "holds 5x5 images"),
        ("train-images-idx3-ubyte", np.zeros((0, 4, 6), np.uint8), "holds no images"),
    ],
)
def test_files_that_do_not_fit_together_are_refused(
    mnist_dir: Path, idx_writer: IdxWriter, name: str, array: np.ndarray, message: str
) -> None:
    idx_writer(mnist_dir / name, array)
    if len(array) == 0:
        idx_writer(mnist_dir / "train-labels-idx1-ubyte", np.zeros(0, np.uint8))
    with pytest.raises(OnebitError) as error:
        load_mnist_idx(mnist_dir)
    assert message in str(error.value)
    assert "idx" in str(error.value)  # names a file


def test_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(OnebitError, match="does not exist"):
        load_mnist_idx(tmp_path / "nowhere")
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(OnebitError, match="is not a directory"):
        load_mnist_idx(file)


def test_known_names_cover_the_four_files() -> None:
    assert sorted(MNIST_FILES) == ["test images", "test labels", "train images", "train labels"]


def test_gzip_copy_matches_plain(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    compressed = tmp_path_factory.mktemp("gz")
    for name in MNIST_FILES.values():
        with open(mnist_dir / name, "rb") as src, gzip.open(compressed / f"{name}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
    plain, packed = load_mnist_idx(mnist_dir), load_mnist_idx(compressed)
    np.testing.assert_array_equal(plain.x_train, packed.x_train)
    np.testing.assert_array_equal(plain.y_test, packed.y_test)
