"""CIFAR-10 in its "python version": pickled batches, unpickled with only NumPy arrays allowed.

Each of ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` is a pickled dict whose ``b"data"``
is an (N, 3072) uint8 array, one image per row as three 32x32 planes (red, green, blue), and whose
``b"labels"`` is a list of N ints. ``batches.meta`` may give ``b"label_names"``.

Unpickling can run any code a file names, so these files are read by an unpickler that builds
nothing but the NumPy arrays, lists, dicts, numbers and strings such a batch is made of.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import describe_value, existing_directory
from onebit.data.splits import DataSplits

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""Class names used when ``batches.meta`` is absent."""

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
EXTRACTED_FOLDER = "cifar-10-batches-py"
IMAGE_SHAPE = (3, 32, 32)


def load_cifar10(directory: str | os.PathLike[str]) -> DataSplits:
    """CIFAR-10 "python version" batches in a directory (32x32 colour): 50,000 train, 10,000 test.

    Args:
        directory: the ``cifar-10-batches-py`` directory of the extracted download, or the
            directory it was extracted into.

    Raises:
        OnebitError: if a batch is missing, malformed or refers to anything but NumPy arrays.
    """
    directory = existing_directory(directory, "CIFAR-10")
    if not (directory / TEST_BATCH).exists() and (directory / EXTRACTED_FOLDER).is_dir():
        directory = directory / EXTRACTED_FOLDER
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (directory / n).is_file()]
    if missing:
        raise OnebitError(f"CIFAR-10 directory {directory} lacks {', '.join(missing)}")
    classes = _read_classes(directory / META_FILE)
    train = [_read_batch(directory / name, len(classes)) for name in TRAIN_BATCHES]
    test_pixels, y_test = _read_batch(directory / TEST_BATCH, len(classes))
    return DataSplits(
        name="cifar10",
        x_train=_to_float(np.concatenate([pixels for pixels, _ in train])),
        y_train=np.concatenate([labels for _, labels in train]),
        x_test=_to_float(test_pixels),
        y_test=y_test,
        classes=classes,
    )


def unpickle_arrays(path: Path) -> Any:
    """Unpickle a file that may hold only NumPy arrays and plain Python data.

    Args:
        path: the pickle; Python 2 pickles load with their byte strings kept as bytes.

    Raises:
        OnebitError: if the file names any other global (nothing is executed), or is not a pickle.
    """
    try:
        with open(path, "rb") as stream:
            return _ArrayUnpickler(stream, path).load()
    except OnebitError:
        raise
    except Exception as err:  # a corrupt pickle can fail in many ways
        raise OnebitError(f"cannot unpickle {path}: {type(err).__name__}: {err}") from err


def _latin1_encode(text: str, encoding: str) -> bytes:
    """What protocol-2 pickles call (``_codecs.encode``) to rebuild a byte string."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing to encode bytes as {encoding!r}")
    return codecs.encode(text, "latin1")


def _empty_bytes() -> bytes:
    """What protocol-2 pickles call (``bytes()``) to rebuild an empty byte string."""
    return b""


def _array_rebuilders() -> dict[tuple[str, str], Any]:
    # Taken from NumPy's own pickling, so they are right under either name of numpy's core.
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    frombuffer = np.ndarray.__reduce_ex__(np.zeros(1), 5)[0]
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler whose only reachable globals are the few that rebuild a NumPy array."""

    ALLOWED = _array_rebuilders()

    def __init__(self, stream: Any, path: Path) -> None:
        super().__init__(stream, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise OnebitError(
                f"refusing to unpickle {module}.{name} from {self.path}: "
                "only NumPy arrays and plain data are allowed"
            ) from None


def _read_batch(path: Path, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch's uint8 pixel rows and its int64 labels."""
    batch = unpickle_arrays(path)
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise OnebitError(f"{path}: 'data' must be a 2-D uint8 array, got {describe_value(data)}")
    if data.shape[1] != np.prod(IMAGE_SHAPE) or len(data) == 0:
        raise OnebitError(f"{path}: 'data' must have shape (N, 3072) with N > 0, got {data.shape}")
    try:
        labels = np.asarray(labels)
    except Exception as err:
        raise OnebitError(f"{path}: 'labels' is not a list of ints: {err}") from err
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise OnebitError(
            f"{path}: 'labels' must be {len(data)} ints, one per image, "
            f"got {describe_value(labels)}"
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        raise OnebitError(
            f"{path}: labels range over {labels.min()}..{labels.max()}, "
            f"outside 0..{num_classes - 1}"
        )
    return data, labels.astype(np.int64)


def _to_float(rows: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows as (N, 3, 32, 32) float32 in [0, 1]."""
    return rows.reshape(-1, *IMAGE_SHAPE).astype(np.float32) / np.float32(255)


def _read_classes(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return CIFAR10_CLASSES
    names = _field(unpickle_arrays(path), "label_names", path)
    if not isinstance(names, list) or not names:
        raise OnebitError(
            f"{path}: 'label_names' must be a non-empty list, got {describe_value(names)}"
        )
    try:
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except UnicodeDecodeError as err:
        raise OnebitError(f"{path}: a label name is not UTF-8 text: {err}") from err


def _field(batch: Any, key: str, path: Path) -> Any:
    """``batch[key]``, whether the file was written by Python 2 (bytes keys) or 3 (str keys)."""
    if not isinstance(batch, dict):
        raise OnebitError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    for spelling in (key.encode(), key):
        if spelling in batch:
            return batch[spelling]
    raise OnebitError(f"{path}: the pickled dict has no {key!r} key (keys: {list(batch)})")
