"""Where datasets built on this machine keep their snapshot: ``$ONEBIT_CACHE``, else
``~/.cache/onebit``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_directory() -> Path:
    """``$ONEBIT_CACHE``, or ``~/.cache/onebit``."""
    return Path(os.environ.get("ONEBIT_CACHE") or Path.home() / ".cache" / "onebit")
