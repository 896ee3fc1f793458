"""A dataset of image files laid out one sub-folder per class, read with Pillow.

Either ``root/<class>/<image>`` (split here by a fixed permutation), or the same layout under
``root/train`` and ``root/test`` (or ``root/val``), used as the two splits. Class indices follow
the sorted folder names. Files and folders whose names start with a dot are skipped, as are files
whose extension is not an image's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import existing_directory
from onebit.data.splits import DataSplits, permutation_split

if TYPE_CHECKING:
    from PIL.Image import Image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""File extensions read as images, matched regardless of case."""

TRAIN_FOLDER = "train"
TEST_FOLDERS = ("test", "val")


def load_image_folder(
    root: str | os.PathLike[str],
    image_size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    test_fraction: float = 0.2,
) -> DataSplits:
    """Images in one sub-folder per class, optionally already split into train/ and test/ (or val/).

    Without train/ and test/ folders, all images are split by the fixed permutation of
    :func:`~onebit.data.splits.permutation_split`: the last ``max(1, round(n * test_fraction))``
    (at most ``n - 1``) are the test set.

    Args:
        root: the dataset's directory.
        image_size: resize every image to this size, an int for a square or (height, width);
            when None, all images must already share one size.
        grayscale: read one grey channel instead of three (RGB).
        test_fraction: the share of images held out for testing when there is no test/ folder.

    Raises:
        OnebitError: if the layout is wrong, a folder is empty, an image cannot be read, or
            images differ in size and no ``image_size`` is given.
    """
    root = existing_directory(root, "image folder")
    size = _height_width(image_size)
    mode = "L" if grayscale else "RGB"
    splits = _split_folders(root)
    if splits is None:
        if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
            raise OnebitError(
                f"test_fraction must lie strictly between 0 and 1, got {test_fraction}"
            )
        classes = _class_names(root)
        files, labels = _list_images(root, classes)
        if len(files) < 2:
            raise OnebitError(f"image folder {root} holds {len(files)} image; need at least 2")
        n_test = max(1, round(len(files) * test_fraction))
        train, test = permutation_split(len(files), min(n_test, len(files) - 1))
    else:
        train_dir, test_dir = splits
        classes = _class_names(train_dir)
        if _class_names(test_dir) != classes:
            raise OnebitError(
                f"{train_dir} has classes {list(classes)} but {test_dir} has "
                f"{list(_class_names(test_dir))}; both splits need the same class folders"
            )
        train_files, train_labels = _list_images(train_dir, classes)
        test_files, test_labels = _list_images(test_dir, classes)
        files, labels = train_files + test_files, np.concatenate([train_labels, test_labels])
        train, test = np.arange(len(train_files)), np.arange(len(train_files), len(files))
    images = _read_images(files, mode, size)
    return DataSplits(
        name=root.resolve().name,
        x_train=images[train],
        y_train=labels[train],
        x_test=images[test],
        y_test=labels[test],
        classes=classes,
    )


def _height_width(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else image_size
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    ):
        raise OnebitError(
            f"image_size must be a positive int or (height, width), got {image_size!r}"
        )
    return size[0], size[1]


def _split_folders(root: Path) -> tuple[Path, Path] | None:
    """The train and test folders under ``root``, or None if it holds class folders directly."""
    train = root / TRAIN_FOLDER
    tests = [root / name for name in TEST_FOLDERS if (root / name).is_dir()]
    if train.is_dir() and tests:
        return train, tests[0]
    if train.is_dir() or tests:
        found = train if train.is_dir() else tests[0]
        raise OnebitError(
            f"image folder {root} has {found.name}/ but no "
            f"{'test/ or val/' if train.is_dir() else 'train/'}; give both splits, "
            "or rename the folder if it is a class"
        )
    return None


def _class_names(directory: Path) -> tuple[str, ...]:
    entries = [p for p in directory.iterdir() if not p.name.startswith(".")]
    loose = sorted(p.name for p in entries if p.is_file() and _is_image(p))
    if loose:
        raise OnebitError(
            f"{directory} holds images directly ({loose[0]}, ...); put each in a sub-folder "
            "named after its class"
        )
    classes = tuple(sorted(p.name for p in entries if p.is_dir()))
    if not classes:
        raise OnebitError(f"{directory} has no class sub-folders")
    return classes


def _list_images(directory: Path, classes: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        class_dir = directory / name
        found = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file()
            and _is_image(p)
            and not any(part.startswith(".") for part in p.relative_to(class_dir).parts)
        )
        if not found:
            raise OnebitError(
                f"class folder {class_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        files += found
        labels += [label] * len(found)
    return files, np.array(labels, dtype=np.int64)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _read_images(files: list[Path], mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """(N, C, H, W) float32 in [0, 1]; without ``size``, every image must match the first."""
    pixels = []
    for path in files:
        image = _read_image(path, mode, size)
        if pixels and image.shape != pixels[0].shape:
            raise OnebitError(
                f"{path} is {_size(image)} but {files[0]} is {_size(pixels[0])}; "
                "pass image_size to resize all images to one size"
            )
        pixels.append(image)
    stacked = np.stack(pixels)
    if stacked.ndim == 3:
        stacked = stacked[..., None]
    return stacked.transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255)


def _read_image(path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = _to_8_bit(image, path).convert(mode)
            if size is not None:
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except OnebitError:
        raise
    except Exception as err:  # decoders of broken files fail in many ways
        raise OnebitError(f"cannot read image {path}: {err}") from err


def _to_8_bit(image: Image, path: Path) -> Image:
    """An image Pillow can convert to L or RGB without clipping or warnings."""
    from PIL import Image

    if image.mode.startswith("I;16"):  # Pillow would clip 16-bit grey to 8 bits, not scale it
        grey = np.round(np.asarray(image, dtype=np.float64) / 257).astype(np.uint8)
        return Image.fromarray(grey)
    if image.mode in ("I", "F"):
        raise OnebitError(f"{path} has {image.mode} pixels of no fixed range; save it with 8 bits")
    if image.mode in ("P", "PA"):  # a palette's transparency converts cleanly only via RGBA
        return image.convert("RGBA")
    return image


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"
