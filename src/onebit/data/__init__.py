"""Real datasets as NumPy train, validation and test splits, with no torch import (the runtime
reuses them).

``load(name, path)`` builds a registered dataset: the bundled ``mnist5k``, ``digits`` and
``mnist-landmarks`` need no path; ``mnist``, ``cifar10``, ``folder``, ``landmarks-pts``,
``keypoints-coco`` and ``text-files`` read the files under ``path``; ``debian-packages`` reads
this machine's package index, or a ``Packages`` file given as ``path``; ``spoken-digits`` is
synthesized on this machine by espeak-ng and ``keyword-folder`` reads one folder of WAV clips per
word (both :class:`KeywordSplits`, whose validation holds out whole speakers). ``load(...,
val_fraction=f)`` also carves a validation split out of the training part by
:func:`validation_split` (the same rule for every dataset; training runs use ``f = 0.1``).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from onebit._registry import OnebitError, Registry
from onebit.data.bundled import digits, mnist5k
from onebit.data.cifar import load_cifar10
from onebit.data.debian import debian_packages
from onebit.data.espeak import spoken_digits
from onebit.data.folder import load_image_folder
from onebit.data.keyword_folder import load_keyword_folder
from onebit.data.keywords import KEYWORD_VALIDATION_RULE, KeywordSplits
from onebit.data.landmark_files import load_coco_keypoints, load_pts_folder
from onebit.data.landmarks import LandmarkSplits, mnist_landmarks
from onebit.data.mnist_idx import load_mnist_idx, read_idx
from onebit.data.splits import (
    DEFAULT_VAL_FRACTION,
    VAL_SPLIT_SEED,
    VALIDATION_RULE,
    DataSplits,
    check_val_fraction,
    permutation_split,
    validation_split,
)
from onebit.data.text import TextSplits, load_text_files

__all__ = [
    "DATASETS",
    "DEFAULT_VAL_FRACTION",
    "KEYWORD_VALIDATION_RULE",
    "VALIDATION_RULE",
    "VAL_SPLIT_SEED",
    "DataSplits",
    "KeywordSplits",
    "LandmarkSplits",
    "TextSplits",
    "debian_packages",
    "describe",
    "digits",
    "list",
    "load",
    "load_cifar10",
    "load_coco_keypoints",
    "load_image_folder",
    "load_keyword_folder",
    "load_mnist_idx",
    "load_pts_folder",
    "load_text_files",
    "mnist5k",
    "mnist_landmarks",
    "permutation_split",
    "read_idx",
    "spoken_digits",
    "validation_split",
]

DATASETS: Registry[DataSplits | LandmarkSplits | TextSplits] = Registry("dataset")
"""Dataset loaders by name; a loader whose first parameter has no default reads a path, one whose
first parameter is ``path=None`` may. Image class sets give :class:`DataSplits`, landmark sets
:class:`LandmarkSplits`, text sets :class:`TextSplits`."""

DATASETS.register("mnist5k")(mnist5k)
DATASETS.register("digits")(digits)
DATASETS.register("mnist")(load_mnist_idx)
DATASETS.register("cifar10")(load_cifar10)
DATASETS.register("folder")(load_image_folder)
DATASETS.register("mnist-landmarks")(mnist_landmarks)
DATASETS.register("landmarks-pts")(load_pts_folder)
DATASETS.register("keypoints-coco")(load_coco_keypoints)
DATASETS.register("text-files")(load_text_files)
DATASETS.register("debian-packages")(debian_packages)
DATASETS.register("spoken-digits")(spoken_digits)
DATASETS.register("keyword-folder")(load_keyword_folder)


def load(
    name: str,
    path: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.0,
    **kwargs: Any,
) -> DataSplits:
    """Load the dataset registered as ``name``.

    Args:
        name: a name from :func:`list`.
        path: the file or directory a file-based dataset reads; None for a bundled one.
        val_fraction: the share of the training part to hold out as the validation split
            (:func:`validation_split`); 0, the default, gives the loader's splits unchanged.
        **kwargs: further arguments of the loader, e.g. ``image_size`` for ``folder``.

    Raises:
        OnebitError: for an unknown name (suggesting the nearest), a path given to a bundled
            dataset or missing for a file-based one, a path that does not exist, an argument the
            loader does not take, files that cannot be read, or a ``val_fraction`` outside
            [0, 1) or too large or small for the training part.
    """
    loader = DATASETS.builder(name)
    args: tuple[Any, ...] = ()
    if _takes_optional_path(loader) and path is not None:
        if not Path(path).exists():
            raise OnebitError(f"path {path} for dataset {name!r} does not exist")
        args = (path,)
    elif _needs_path(loader):
        if path is None:
            raise OnebitError(f"dataset {name!r} reads files: give a path ({_summary(loader)})")
        if not Path(path).exists():
            raise OnebitError(f"path {path} for dataset {name!r} does not exist")
        args = (path,)
    elif path is not None:
        raise OnebitError(f"dataset {name!r} is bundled and takes no path, got {path}")
    try:
        inspect.signature(loader).bind(*args, **kwargs)
    except TypeError as err:
        raise OnebitError(f"dataset {name!r}: {err}") from None
    check_val_fraction(val_fraction)  # before any file is read
    return loader(*args, **kwargs).with_validation(val_fraction)


def list(pattern: str = "*") -> list[str]:  # shadows the builtin in this module only
    """Names of the registered datasets matching a shell-style wildcard, sorted."""
    return DATASETS.list(pattern)


def describe() -> list[tuple[str, str, bool]]:
    """(name, one-line description, needs_path) for each registered dataset, sorted by name."""
    return [
        (name, _summary(DATASETS.builder(name)), _needs_path(DATASETS.builder(name)))
        for name in DATASETS
    ]


def _needs_path(loader: Any) -> bool:
    first = next(iter(inspect.signature(loader).parameters.values()), None)
    return first is not None and first.default is inspect.Parameter.empty


def _takes_optional_path(loader: Any) -> bool:
    first = next(iter(inspect.signature(loader).parameters.values()), None)
    return first is not None and first.name == "path" and first.default is None


def _summary(loader: Any) -> str:
    doc = inspect.getdoc(loader) or ""
    return doc.splitlines()[0] if doc else loader.__name__
