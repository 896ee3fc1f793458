"""The IDX file format of MNIST, Fashion-MNIST and EMNIST, read with NumPy alone.

An IDX file is a header and a payload. The header is two zero bytes, a type code byte, a byte
giving the number of dimensions, and each dimension as a big-endian uint32. The payload is the
array in C order, big-endian, and exactly as long as the header says. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import existing_directory
from onebit.data.splits import DataSplits

IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX type code -> element type."""

GZIP_MAGIC = b"\x1f\x8b"

MNIST_FILES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "test images": "t10k-images-idx3-ubyte",
    "test labels": "t10k-labels-idx1-ubyte",
}
"""The four files of an MNIST-style download; each may be spelt with ``.idx`` or end ``.gz``."""

_CHUNK_BYTES = 1 << 20


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file, plain or gzip-compressed (told apart by its first bytes).

    Args:
        path: the file.

    Returns:
        The array, in native byte order, with the shape and element type the header gives.

    Raises:
        OnebitError: if the file cannot be read, its header is malformed, or its payload is
            shorter or longer than the header says.
    """
    path = Path(path)
    try:
        with _open(path) as stream:
            return _read_idx_stream(stream, path)
    except (OSError, EOFError, zlib.error) as err:
        raise OnebitError(f"cannot read IDX file {path}: {err}") from err


def load_mnist_idx(directory: str | os.PathLike[str]) -> DataSplits:
    """MNIST-style IDX files in a directory: MNIST, Fashion-MNIST, EMNIST.

    The directory holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each possibly spelt with ``.idx``
    (``train-images.idx3-ubyte``) and possibly ending ``.gz``. Images become (N, 1, H, W) / 255 and
    the classes are ``"0"`` up to the largest label. EMNIST images stay as stored (transposed).

    Args:
        directory: the directory holding the four files.

    Raises:
        OnebitError: if a file is missing or malformed, or the files do not fit together.
    """
    directory = existing_directory(directory, "MNIST IDX")
    paths = {role: _find(directory, role, stem) for role, stem in MNIST_FILES.items()}
    arrays = {role: read_idx(path) for role, path in paths.items()}
    for split in ("train", "test"):
        _check_pair(
            arrays[f"{split} images"],
            arrays[f"{split} labels"],
            paths[f"{split} images"],
            paths[f"{split} labels"],
        )
    if arrays["train images"].shape[1:] != arrays["test images"].shape[1:]:
        raise OnebitError(
            f"{paths['train images']} holds {_size(arrays['train images'])} images but "
            f"{paths['test images']} holds {_size(arrays['test images'])} images"
        )
    num_classes = int(max(arrays["train labels"].max(), arrays["test labels"].max())) + 1
    return DataSplits(
        name="mnist",
        x_train=_to_float(arrays["train images"]),
        y_train=arrays["train labels"].astype(np.int64),
        x_test=_to_float(arrays["test images"]),
        y_test=arrays["test labels"].astype(np.int64),
        classes=tuple(str(label) for label in range(num_classes)),
    )


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as raw:
        magic = raw.read(len(GZIP_MAGIC))
    return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")


def _read_idx_stream(stream: BinaryIO, path: Path) -> np.ndarray:
    header = _read_up_to(stream, 4)
    if len(header) < 4:
        raise OnebitError(f"{path} is not an IDX file: only {len(header)} bytes long")
    if header[:2] != b"\0\0":
        raise OnebitError(
            f"{path} is not an IDX file: it starts with bytes {header[:2].hex(' ')}, not 00 00"
        )
    type_code, ndim = header[2], header[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise OnebitError(f"{path}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise OnebitError(f"{path}: the IDX header gives 0 dimensions")
    dims = _read_up_to(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise OnebitError(f"{path} is truncated inside its header of {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    payload = _read_up_to(stream, expected + 1)
    promise = f"its header promises {expected} bytes of {dtype.name} data for shape {shape}"
    if len(payload) < expected:
        raise OnebitError(f"{path} is truncated: {promise} but only {len(payload)} follow")
    if len(payload) > expected:
        raise OnebitError(f"{path} has trailing bytes: {promise} but more follow")
    return np.frombuffer(payload, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer at the end of the stream; never allocates more than it reads."""
    chunks = []
    while size > 0:
        chunk = stream.read(min(size, _CHUNK_BYTES))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _find(directory: Path, role: str, stem: str) -> Path:
    spellings = (stem, stem.replace("-idx", ".idx"))
    names = [name + suffix for name in spellings for suffix in ("", ".gz")]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise OnebitError(f"no {role} file in {directory}: looked for {', '.join(names)}")


def _check_pair(
    images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path
) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise OnebitError(
            f"{images_path}: expected 3-D ubyte images, got {images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise OnebitError(
            f"{labels_path}: expected 1-D ubyte labels, got {labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise OnebitError(
            f"{labels_path} has {len(labels)} labels but {images_path} has {len(images)} images"
        )
    if len(images) == 0:
        raise OnebitError(f"{images_path} holds no images")


def _size(images: np.ndarray) -> str:
    return "x".join(map(str, images.shape[1:]))


def _to_float(images: np.ndarray) -> np.ndarray:
    return images[:, None].astype(np.float32) / np.float32(255)
