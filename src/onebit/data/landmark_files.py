"""Readers for landmark annotations on disk: 300-W ``.pts`` files for faces and COCO keypoint
JSON for human pose, into :class:`onebit.data.landmarks.LandmarkSplits`.

Both crop each annotated object to a square around it and resize the crop to ``image_size``, as
face-alignment and single-person pose pipelines do before a network sees the image:

- ``.pts`` (the 300-W / iBUG format of Sagonas et al., "300 Faces in-the-Wild Challenge", 2013):
  ``version: 1``, ``n_points: K``, then ``{``, K lines ``x y``, ``}``, beside an image of the same
  stem. The coordinates are 1-based (the MATLAB convention of the annotation tool) and read as
  ``x - 1, y - 1``. The crop is the points' bounding box grown by ``margin`` of its longer side on
  every side.
- COCO keypoints (Lin et al., "Microsoft COCO", ECCV 2014, the ``person_keypoints`` files):
  ``images`` (``id``, ``file_name``), ``annotations`` (``image_id``, ``keypoints`` as
  ``[x, y, v] * K``, ``bbox`` as ``[x, y, w, h]``), ``categories[0].keypoints`` (the names).
  Each annotation with a keypoint is one sample; ``v = 0`` (not labelled) becomes ``NaN``. The
  crop is the box grown by ``margin`` of its longer side, made square about its centre.

A folder holds either ``train/`` and ``test/`` (or ``val/``) or everything at its top, split then
by :func:`onebit.data.splits.permutation_split`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from onebit._registry import OnebitError
from onebit.data._checks import existing_directory
from onebit.data.folder import IMAGE_EXTENSIONS
from onebit.data.landmarks import LandmarkSplits
from onebit.data.splits import permutation_split

DEFAULT_MARGIN = 0.15
IBUG_POINTS = 68
"""The 68-point markup's errors are normalized by the inter-ocular distance, others' by the box."""
COCO_FILES = ("train.json", "test.json")
COCO_SINGLE_FILE = "keypoints.json"
MAX_POINTS = 10_000


def read_pts(path: str | os.PathLike[str]) -> np.ndarray:
    """The points of one ``.pts`` file as float64 (K, 2), 0-based pixel centres.

    Raises:
        OnebitError: naming the file and line, for anything but the format above.
    """
    path = Path(path)
    try:
        lines = [line.strip() for line in path.read_text(encoding="ascii").splitlines()]
    except (OSError, UnicodeDecodeError) as error:
        raise OnebitError(f"cannot read landmark file {path}: {error}") from None
    lines = [line for line in lines if line]
    count = None
    header = {}
    for line in lines[: lines.index("{")] if "{" in lines else lines:
        key, _, value = line.partition(":")
        header[key.strip()] = value.strip()
    if "n_points" in header:
        try:
            count = int(header["n_points"])
        except ValueError:
            count = None
    if count is None or not 0 < count <= MAX_POINTS:
        raise OnebitError(f"{path}: needs a line 'n_points: K' with 1 <= K <= {MAX_POINTS}")
    if "{" not in lines or "}" not in lines:
        raise OnebitError(f"{path}: the points must sit between a '{{' line and a '}}' line")
    body = lines[lines.index("{") + 1 : lines.index("}")]
    if len(body) != count:
        raise OnebitError(f"{path}: n_points is {count} but {len(body)} point lines follow")
    points = np.empty((count, 2))
    for i, line in enumerate(body):
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError
            points[i] = [float(fields[0]) - 1.0, float(fields[1]) - 1.0]
        except ValueError:
            raise OnebitError(f"{path}: point {i + 1} is {line!r}, not 'x y'") from None
    if not np.isfinite(points).all():
        raise OnebitError(f"{path}: points must be finite numbers")
    return points


def crop_square(
    image, box: tuple[float, float, float], size: tuple[int, int], points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the square ``box = (left, top, side)`` (pixel-edge coordinates; outside the image
    is black) out of a Pillow image, resize it to ``size = (height, width)`` (bilinear) and map
    the points (K, 2) with it: ``p' = (p + 0.5 - corner) * size / side - 0.5``.

    Returns:
        The crop as float32 (C, H, W) in [0, 1] and its points as float64 (K, 2).
    """
    from PIL import Image

    left, top, side = box
    height, width = size
    extent = (left, top, left + side, top + side)
    crop = image.transform((width, height), Image.Transform.EXTENT, extent, Image.BILINEAR)
    pixels = np.asarray(crop, np.float32) / 255.0
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    scale = np.array([width / side, height / side])
    mapped = (points + 0.5 - np.array([left, top])) * scale - 0.5
    return np.ascontiguousarray(pixels), mapped


def _square_about(x0: float, y0: float, x1: float, y1: float, margin: float) -> tuple:
    """The square (left, top, side) centred on a box, its side the longer one grown by
    ``margin`` of it on every side."""
    side = max(x1 - x0, y1 - y0, 1.0) * (1 + 2 * margin)
    return (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side


def _size(image_size: int | Sequence[int]) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise OnebitError(f"image_size must be a positive int or (height, width), got {image_size}")
    return size


def _check_margin(margin: float) -> None:
    if not (isinstance(margin, int | float) and 0 <= margin <= 2):
        raise OnebitError(f"margin must be between 0 and 2 (a share of the box), got {margin}")


def _open(path: Path, mode: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert(mode)
    except (OSError, UnidentifiedImageError) as error:
        raise OnebitError(f"cannot read image {path}: {error}") from None


def _split_roots(root: Path) -> tuple[Path, Path] | None:
    train = root / "train"
    tests = [root / name for name in ("test", "val") if (root / name).is_dir()]
    if train.is_dir() and tests:
        return train, tests[0]
    if train.is_dir() or tests:
        raise OnebitError(f"{root} has {'train/' if train.is_dir() else 'test/'} but not its pair")
    return None


def _stack(name, samples, landmarks, test_fraction, split_sizes=None) -> LandmarkSplits:
    images = np.stack([s[0] for s in samples]).astype(np.float32)
    points = np.stack([s[1] for s in samples]).astype(np.float32)
    if split_sizes is None:
        if len(samples) < 2:
            raise OnebitError(f"{name}: {len(samples)} sample; need at least 2 to split")
        n_test = min(max(1, round(len(samples) * test_fraction)), len(samples) - 1)
        train, test = permutation_split(len(samples), n_test)
    else:
        train, test = np.arange(split_sizes[0]), np.arange(split_sizes[0], len(samples))
    return LandmarkSplits(
        name, images[train], points[train], images[test], points[test], tuple(landmarks)
    )


def _check_test_fraction(test_fraction: float) -> None:
    if not (isinstance(test_fraction, int | float) and 0 < test_fraction < 1):
        raise OnebitError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")


def load_pts_folder(
    root: str | os.PathLike[str],
    image_size: int | Sequence[int] = 256,
    grayscale: bool = False,
    margin: float = DEFAULT_MARGIN,
    test_fraction: float = 0.2,
) -> LandmarkSplits:
    """Face images with a ``.pts`` file of the same stem beside each, cropped about their points.

    With 68 points (the 300-W markup) the splits' ``norm`` is the inter-ocular distance, else
    the box diagonal.

    Args:
        root: the folder (with ``train/`` and ``test/`` or ``val/``, or all files at its top).
        image_size: the crops' size, an int for a square or (height, width).
        grayscale: one grey channel instead of RGB.
        margin: how much the points' box grows on every side, a share of its longer side.
        test_fraction: the share held out for testing when there are no split folders.

    Raises:
        OnebitError: for a missing folder, no annotated image, an image without its ``.pts``
            file or the other way round, files with different point counts, or a bad file.
    """
    root = existing_directory(root, "landmark")
    size, mode = _size(image_size), "L" if grayscale else "RGB"
    _check_margin(margin)
    _check_test_fraction(test_fraction)
    split = _split_roots(root)
    folders = [root] if split is None else list(split)
    samples, sizes, count = [], [], None
    for folder in folders:
        pts = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".pts")
        images = {
            p.stem: p
            for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        }
        if not pts:
            raise OnebitError(f"{folder} holds no .pts landmark file")
        unannotated = sorted(set(images) - {p.stem for p in pts})
        if unannotated:
            raise OnebitError(f"{folder}: images without a .pts file: {unannotated[:5]}")
        for path in pts:
            if path.stem not in images:
                raise OnebitError(f"{path} has no image of the same name beside it")
            points = read_pts(path)
            if count is not None and len(points) != count:
                raise OnebitError(f"{path} has {len(points)} points, the files before it {count}")
            count = len(points)
            box = _square_about(*points.min(0), *points.max(0), margin)
            samples.append(crop_square(_open(images[path.stem], mode), box, size, points))
        sizes.append(len(samples))
    names = [f"point {i + 1}" for i in range(count)]
    norm = "interocular" if count == IBUG_POINTS else "box_diagonal"
    splits = _stack(root.name, samples, names, test_fraction, None if split is None else sizes)
    return replace(splits, norm=norm)


def _coco_samples(path: Path, image_root: Path, size, mode, margin) -> tuple[list, list[str]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OnebitError(f"cannot read keypoint file {path}: {error}") from None
    try:
        names = [str(n) for n in document["categories"][0]["keypoints"]]
        files = {int(i["id"]): str(i["file_name"]) for i in document["images"]}
        annotations = list(document["annotations"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise OnebitError(
            f"{path}: not COCO keypoints (needs images with id and file_name, annotations, "
            "and categories[0].keypoints)"
        ) from None
    if not names:
        raise OnebitError(f"{path}: categories[0].keypoints names no keypoint")
    samples, opened = [], {}
    for n, annotation in enumerate(annotations):
        where = f"{path}, annotation {n}"
        try:
            values = np.asarray(annotation["keypoints"], np.float64)
            x, y, w, h = (float(v) for v in annotation["bbox"])
            image_id = int(annotation["image_id"])
        except (KeyError, TypeError, ValueError):
            raise OnebitError(f"{where}: needs keypoints, bbox [x, y, w, h] and image_id") from None
        if values.shape != (3 * len(names),) or not np.isfinite(values).all():
            raise OnebitError(f"{where}: keypoints must be {3 * len(names)} finite numbers")
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
            raise OnebitError(f"{where}: bbox must be finite with w, h >= 0")
        if image_id not in files:
            raise OnebitError(f"{where}: image_id {image_id} is not among the images")
        triples = values.reshape(-1, 3)
        if not (triples[:, 2] > 0).any():
            continue  # a person with no keypoint labelled teaches nothing here
        points = np.where(triples[:, 2:] > 0, triples[:, :2], np.nan)
        file = image_root / files[image_id]
        if not file.resolve().is_relative_to(image_root.resolve()):
            raise OnebitError(f"{where}: file_name {files[image_id]!r} leaves {image_root}")
        if file not in opened:
            opened[file] = _open(file, mode)
        box = _square_about(x, y, x + w, y + h, margin)
        samples.append(crop_square(opened[file], box, size, points))
    if not samples:
        raise OnebitError(f"{path}: no annotation with a labelled keypoint")
    return samples, names


def load_coco_keypoints(
    root: str | os.PathLike[str],
    image_size: int | Sequence[int] = 256,
    grayscale: bool = False,
    margin: float = 0.125,
    test_fraction: float = 0.2,
) -> LandmarkSplits:
    """People's keypoints from COCO keypoint JSON, each annotation cropped about its box.

    Args:
        root: a folder with ``train.json`` and ``test.json``, or one ``keypoints.json`` (split
            by ``test_fraction``); ``file_name`` is relative to the folder.
        image_size: the crops' size, an int for a square or (height, width).
        grayscale: one grey channel instead of RGB.
        margin: how much the box grows on every side, a share of its longer side (0.125 makes
            the square 1.25 times the box, as common single-person pose pipelines do).
        test_fraction: the share held out for testing with one file.

    Raises:
        OnebitError: for missing files, a file that is not COCO keypoints, an image that cannot
            be read or lies outside the folder, or splits whose keypoint names differ.
    """
    root = existing_directory(root, "keypoint")
    size, mode = _size(image_size), "L" if grayscale else "RGB"
    _check_margin(margin)
    _check_test_fraction(test_fraction)
    if all((root / name).is_file() for name in COCO_FILES):
        train, names = _coco_samples(root / COCO_FILES[0], root, size, mode, margin)
        test, test_names = _coco_samples(root / COCO_FILES[1], root, size, mode, margin)
        if test_names != names:
            raise OnebitError(f"{root}: train.json and test.json name different keypoints")
        return _stack(root.name, train + test, names, test_fraction, [len(train)])
    if not (root / COCO_SINGLE_FILE).is_file():
        raise OnebitError(f"{root} holds neither {' and '.join(COCO_FILES)} nor {COCO_SINGLE_FILE}")
    samples, names = _coco_samples(root / COCO_SINGLE_FILE, root, size, mode, margin)
    return _stack(root.name, samples, names, test_fraction)
