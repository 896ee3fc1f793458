"""CIFAR-10 python batches, and the unpickler that builds nothing but arrays and plain data."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from onebit._registry import OnebitError
from onebit.data.cifar import CIFAR10_CLASSES, TEST_BATCH, TRAIN_BATCHES, load_cifar10

IMAGES_PER_BATCH = 7


def python2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled as Python 2 wrote the official files: byte strings, numpy.core names."""

    def string(text: bytes) -> bytes:  # SHORT_BINSTRING or BINSTRING
        if len(text) < 256:
            return b"U" + bytes([len(text)]) + text
        return b"T" + struct.pack("<i", len(text)) + text

    def integer(value: int) -> bytes:  # BININT
        return b"J" + struct.pack("<i", value)

    dtype = b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R"
    dtype += b"(" + integer(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1)
    dtype += integer(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    array += integer(0) + b"\x85" + string(b"b") + b"\x87R"
    array += b"(" + integer(1) + integer(data.shape[0]) + integer(data.shape[1]) + b"\x86"
    array += dtype + b"\x89" + string(data.tobytes()) + b"tb"
    label_list = b"](" + b"".join(integer(label) for label in labels) + b"e"
    items = string(b"data") + array + string(b"labels") + label_list
    return b"\x80\x02}(" + items + b"u."


def write_batch(path: Path, data: np.ndarray, labels: list[int], protocol: int | str) -> None:
    if protocol == "python2":
        path.write_bytes(python2_pickle(data, labels))
        return
    batch = {b"batch_label": b"a batch", b"labels": labels, b"data": data, b"filenames": []}
    with open(path, "wb") as stream:
        pickle.dump(batch, stream, protocol=protocol)


def write_cifar(directory: Path, protocol: int | str = 2) -> tuple[np.ndarray, np.ndarray]:
    """Six batches of random images; returns all data rows and labels in file order."""
    rng = np.random.default_rng(2)
    rows, labels = [], []
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        data = rng.integers(0, 256, (IMAGES_PER_BATCH, 3072), dtype=np.uint8)
        batch_labels = rng.integers(0, 10, IMAGES_PER_BATCH).tolist()
        write_batch(directory / name, data, batch_labels, protocol)
        rows.append(data)
        labels += batch_labels
    return np.concatenate(rows), np.array(labels)


@pytest.mark.parametrize("protocol", [0, 2, pickle.DEFAULT_PROTOCOL, 5, "python2"])
def test_batches_load_with_exact_pixels(tmp_path: Path, protocol: int | str) -> None:
    rows, labels = write_cifar(tmp_path, protocol)
    splits = load_cifar10(tmp_path)
    n_train = 5 * IMAGES_PER_BATCH
    assert splits.name == "cifar10"
    assert splits.x_train.shape == (n_train, 3, 32, 32)
    assert splits.x_test.shape == (IMAGES_PER_BATCH, 3, 32, 32)
    assert splits.classes == CIFAR10_CLASSES
    # Row layout: the red plane, then green, then blue, each 32 rows of 32.
    channel, row, column = 2, 5, 31
    assert splits.x_train[3, channel, row, column] == np.float32(
        rows[3, channel * 1024 + row * 32 + column] / np.float32(255)
    )
    expected = rows.reshape(-1, 3, 32, 32) / np.float32(255)
    np.testing.assert_array_equal(splits.x_train, expected[:n_train])
    np.testing.assert_array_equal(splits.x_test, expected[n_train:])
    np.testing.assert_array_equal(splits.y_train, labels[:n_train])
    np.testing.assert_array_equal(splits.y_test, labels[n_train:])


def test_class_names_come_from_batches_meta(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    names = [f"class {i}".encode() for i in range(10)]
    with open(tmp_path / "batches.meta", "wb") as stream:
        pickle.dump({b"label_names": names, b"num_vis": 3072}, stream, protocol=2)
    assert load_cifar10(tmp_path).classes == tuple(f"class {i}" for i in range(10))


def test_the_extracted_folder_is_found_from_its_parent(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    write_cifar(tmp_path / "cifar-10-batches-py")
    assert len(load_cifar10(tmp_path).x_test) == IMAGES_PER_BATCH


class RunsShell:
    """Unpickling this runs a shell command, as a malicious file could."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("file", ["data_batch_1", "test_batch", "batches.meta"])
def test_malicious_pickle_is_refused_without_running(
    tmp_path: Path, protocol: int, file: str
) -> None:
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(tmp_path / file, "wb") as stream:
        pickle.dump({b"data": RunsShell(marker), b"labels": [0]}, stream, protocol=protocol)
    with pytest.raises(OnebitError, match="refusing to unpickle") as error:
        load_cifar10(tmp_path)
    assert f"system from {tmp_path / file}" in str(error.value)
    assert not marker.exists()


def test_only_latin1_byte_strings_are_rebuilt(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    # A protocol-2 pickle of bytes calls _codecs.encode(text, "latin1"); other codecs are refused.
    payload = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R."
    (tmp_path / "test_batch").write_bytes(payload)
    with pytest.raises(OnebitError, match="refusing to encode bytes as 'zlib'"):
        load_cifar10(tmp_path)


def test_bytes_can_only_be_rebuilt_empty(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x7f\x85R.")
    with pytest.raises(OnebitError, match=r"cannot unpickle .*test_batch: TypeError"):
        load_cifar10(tmp_path)


def test_missing_batches_are_named(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    (tmp_path / "test_batch").unlink()
    with pytest.raises(OnebitError, match="lacks data_batch_3, test_batch"):
        load_cifar10(tmp_path)


def image_rows(n: int = 2) -> np.ndarray:
    return np.zeros((n, 3072), np.uint8)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, "shape (N, 3072)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "2-D uint8 array"),
        ({b"data": np.zeros((2, 3, 1024), np.uint8), b"labels": [0, 1]}, "2-D uint8 array"),
        ({b"data": image_rows(0), b"labels": []}, "with N > 0"),
        ({b"data": image_rows(), b"labels": [0]}, "must be 2 ints, one per image"),
        ({b"data": image_rows(), b"labels": [0, "cat"]}, "must be 2 ints"),
        ({b"data": image_rows(), b"labels": [0, 10]}, "labels range over 0..10, outside 0..9"),
        ({b"data": image_rows(), b"labels": [-1, 0]}, "labels range over -1..0"),
        ({b"labels": [0, 1]}, "has no 'data' key"),
        ([image_rows(), [0, 1]], "expected a pickled dict, got list"),
    ],
)
def test_malformed_batches_are_refused(tmp_path: Path, batch: object, message: str) -> None:
    write_cifar(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as stream:
        pickle.dump(batch, stream, protocol=2)
    with pytest.raises(OnebitError, match="data_batch_2") as error:
        load_cifar10(tmp_path)
    assert message in str(error.value)


def test_corrupt_pickle_is_refused(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    content = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(content[: len(content) // 2])
    with pytest.raises(OnebitError, match=r"cannot unpickle .*test_batch"):
        load_cifar10(tmp_path)


def test_labels_beyond_the_meta_class_names_are_refused(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    with open(tmp_path / "batches.meta", "wb") as stream:
        pickle.dump({b"label_names": [b"a", b"b"]}, stream, protocol=2)
    with pytest.raises(OnebitError, match=r"outside 0\.\.1"):
        load_cifar10(tmp_path)


def test_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(OnebitError, match=r"CIFAR-10 directory .* does not exist"):
        load_cifar10(tmp_path / "nowhere")
