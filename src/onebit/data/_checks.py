"""Checks on user input shared by the loaders, and how their errors describe a value."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from onebit._registry import OnebitError


def existing_directory(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path, or an error saying it is not a directory of ``what``."""
    directory = Path(path)
    if not directory.exists():
        raise OnebitError(f"{what} directory {directory} does not exist")
    if not directory.is_dir():
        raise OnebitError(f"{what} path {directory} is not a directory")
    return directory


def describe_value(value: object) -> str:
    """An array's dtype and shape, or else a value's type, for an error message."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
