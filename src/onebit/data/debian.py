"""Real text that every Debian machine carries: package descriptions, classified by archive
section (``debian-packages``).

How the set is built (:func:`debian_packages`):

1. The package index: ``apt-cache dumpavail`` (what ``apt-get update`` fetched into
   ``/var/lib/apt/lists``), or a ``Packages`` file given as ``path``; parsed with python-debian's
   ``deb822.Packages``.
2. One record per package name (the first stanza of a name wins); a record's text is the
   ``Description`` field (on a machine without the ``Translation`` files, the one-line synopsis)
   and its class the ``Section`` without its archive area (``contrib/games`` is ``games``). A
   stanza without a section or description is skipped.
3. Duplicate texts: of the records whose descriptions are equal (ignoring case and surrounding
   space), only the one whose package name sorts first is kept, so that no test text is a
   training text verbatim.
4. Classes: every section with at least :data:`MIN_SECTION_SIZE` records keeps its name; the
   rarer ones merge into :data:`OTHER`.
5. Split: records sorted by package name, then :func:`~onebit.data.splits.permutation_split`
   (seed 0) holds out :data:`TEST_FRACTION` as the test set; the vocabulary comes from the
   training part (:mod:`onebit.data.text`); validation is carved from the training part by the
   common rule when asked.

Steps 1-3 are cached (``$ONEBIT_CACHE``, else ``~/.cache/onebit``) as JSON lines whose first line
records the index's SHA-256 and the record count; the cached snapshot is what later loads read,
so the set stays the same across ``apt-get update`` until ``rebuild=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from onebit._registry import OnebitError
from onebit.atomic import atomic_open
from onebit.data.cache import cache_directory
from onebit.data.splits import permutation_split
from onebit.data.text import TextSplits, text_splits

MIN_SECTION_SIZE = 1000
"""Records a section needs to be a class of its own."""
OTHER = "other"
"""The class of the rarer sections."""
TEST_FRACTION = 0.2
"""The share of the records that form the test set."""
CACHE_FORMAT = "onebit debian-packages records v1"

Record = tuple[str, str, str]  # (package, section, description)


def dump_package_index() -> str:
    """The text of ``apt-cache dumpavail``.

    Raises:
        OnebitError: if apt-cache is missing or fails, or the index is empty (run
            ``apt-get update``).
    """
    if shutil.which("apt-cache") is None:
        raise OnebitError(
            "debian-packages needs apt-cache (a Debian or Ubuntu machine), or a Packages file as "
            "its path"
        )
    result = subprocess.run(
        ["apt-cache", "dumpavail"], capture_output=True, text=True, check=False, timeout=300
    )
    if result.returncode != 0:
        raise OnebitError(f"apt-cache dumpavail failed: {result.stderr.strip()[:300]}")
    if "Package:" not in result.stdout:
        raise OnebitError(
            "apt-cache dumpavail lists no packages: run `apt-get update` first, or give a "
            "Packages file as the path"
        )
    return result.stdout


def parse_package_index(text: str) -> list[Record]:
    """(package, section, description) of every stanza of a ``Packages`` index, one per package
    name (steps 1-2 of the module's rule), in index order."""
    from debian import deb822

    records: list[Record] = []
    seen: set[str] = set()
    fields = ["Package", "Section", "Description"]
    for stanza in deb822.Packages.iter_paragraphs(
        text.splitlines(keepends=True), fields=fields, use_apt_pkg=False
    ):
        package = stanza.get("Package", "").strip()
        section = stanza.get("Section", "").strip().rsplit("/", 1)[-1]
        description = " ".join(stanza.get("Description", "").split())
        if not package or not section or not description or package in seen:
            continue
        seen.add(package)
        records.append((package, section, description))
    return records


def unique_descriptions(records: list[Record]) -> list[Record]:
    """Step 3: one record per description (case and spacing ignored), the first package name in
    sorted order; the result is sorted by package name."""
    kept: dict[str, Record] = {}
    for record in sorted(records):
        kept.setdefault(record[2].strip().lower(), record)
    return sorted(kept.values())


def package_records(
    path: str | os.PathLike[str] | None = None, rebuild: bool = False
) -> list[Record]:
    """The records of steps 1-3: from ``path`` (a Packages file, never cached), else from the
    cache, else from ``apt-cache dumpavail`` (then cached)."""
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise OnebitError(f"{path}: not a UTF-8 Packages file ({err.reason})") from None
        records = unique_descriptions(parse_package_index(text))
        if not records:
            raise OnebitError(f"{path}: no package stanza with a Section and a Description")
        return records
    cache = cache_directory() / "debian-packages.jsonl"
    if cache.exists() and not rebuild:
        return _read_cache(cache)
    text = dump_package_index()
    records = unique_descriptions(parse_package_index(text))
    header = {
        "format": CACHE_FORMAT,
        "source": "apt-cache dumpavail",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "records": len(records),
    }
    with atomic_open(cache, "w") as handle:
        handle.write(json.dumps(header) + "\n")
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return records


def _read_cache(cache: Path) -> list[Record]:
    def corrupt(why: str) -> OnebitError:
        return OnebitError(f"{cache}: {why}; delete it or load with rebuild=True")

    try:
        lines = cache.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else None
        records = [tuple(json.loads(line)) for line in lines[1:]]
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise corrupt(f"not a records cache ({err})") from None
    if not isinstance(header, dict) or header.get("format") != CACHE_FORMAT:
        raise corrupt(f"not a {CACHE_FORMAT!r} file")
    if header.get("records") != len(records) or not all(
        len(r) == 3 and all(isinstance(f, str) and f for f in r) for r in records
    ):
        raise corrupt("records are missing or malformed")
    return records  # type: ignore[return-value]


def section_classes(records: list[Record]) -> dict[str, str]:
    """Step 4: section -> class name."""
    counts = Counter(section for _, section, _ in records)
    return {s: (s if n >= MIN_SECTION_SIZE else OTHER) for s, n in counts.items()}


def debian_packages(
    path: str | os.PathLike[str] | None = None,
    vocab_size: int = 8000,
    seq_len: int = 16,
    rebuild: bool = False,
) -> TextSplits:
    """Debian package descriptions by archive section: apt-cache dumpavail, or a Packages file.

    Args:
        path: a ``Packages`` file to read instead of this machine's package index.
        vocab_size: token ids in all (``<pad>`` and ``<unk>`` included).
        seq_len: tokens kept per description (16: the 99th percentile is 12 words).
        rebuild: read the package index again instead of the cached snapshot.
    """
    records = package_records(path, rebuild)
    merged = section_classes(records)
    classes = sorted(set(merged.values()))
    if len(classes) < 2:
        raise OnebitError(
            f"debian-packages: {len(records)} records give {len(classes)} class "
            f"({classes}); sections need {MIN_SECTION_SIZE} records to be a class"
        )
    n_test = max(1, round(TEST_FRACTION * len(records)))
    train_idx, test_idx = permutation_split(len(records), n_test)

    def part(indices) -> tuple[list[str], list[str]]:
        chosen = [records[i] for i in indices]
        return [r[2] for r in chosen], [merged[r[1]] for r in chosen]

    return text_splits(
        "debian-packages", part(train_idx), part(test_idx), vocab_size, seq_len, classes
    )
