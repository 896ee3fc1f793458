"""``debian-packages``: a Packages index parsed into one record per package, duplicate texts
dropped, rare sections merged, a seeded split, and the cached snapshot with its checks. The
index here is a small Packages file the test writes; the machine's own index is never read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from onebit import data as datasets
from onebit._registry import OnebitError
from onebit.data import debian


def stanza(package: str, section: str | None, description: str | None) -> str:
    lines = [f"Package: {package}", "Version: 1.0-1", "Architecture: amd64"]
    if section is not None:
        lines.append(f"Section: {section}")
    if description is not None:
        lines.append(f"Description: {description}")
    lines.append("Tag: role::program, use::testing")
    return "\n".join(lines) + "\n"


def packages_file(path: Path, per_section: int = 6) -> Path:
    stanzas = []
    for i in range(per_section):
        stanzas.append(stanza(f"python3-mod{i}", "python", f"Python module number {i} for parsing"))
        stanzas.append(stanza(f"libthing{i}", "libs", f"shared library {i} for the thing runtime"))
        stanzas.append(stanza(f"game{i}", "contrib/games", f"arcade game {i} with many levels"))
    stanzas += [
        stanza("oddball", "hamradio", "radio logging tool"),  # a rare section: "other"
        stanza("python3-mod0", "python", "a second stanza of the same package"),  # ignored
        stanza("python3-copy", "python", "Python module number 0  for parsing"),  # same text
        stanza("nosection", None, "no section here"),
        stanza("nodescription", "libs", None),
    ]
    path.write_text("\n".join(stanzas), "utf-8")
    return path


@pytest.fixture
def small_sections(monkeypatch) -> None:
    monkeypatch.setattr(debian, "MIN_SECTION_SIZE", 3)


def test_records_one_per_package_and_per_text(tmp_path: Path) -> None:
    records = debian.package_records(packages_file(tmp_path / "Packages"))
    names = [r[0] for r in records]
    assert names == sorted(names)
    # python3-mod0's text is python3-copy's (spacing aside): the first name in sorted order stays
    assert "python3-mod0" not in names
    assert ("python3-copy", "python", "Python module number 0 for parsing") in records
    assert "nosection" not in names and "nodescription" not in names
    assert ("game3", "games", "arcade game 3 with many levels") in records  # area dropped
    assert len(records) == 3 * 6 + 1


def test_splits_merge_rare_sections_and_are_seeded(tmp_path: Path, small_sections) -> None:
    path = packages_file(tmp_path / "Packages")
    splits = datasets.load("debian-packages", path, val_fraction=0.2, vocab_size=30, seq_len=5)
    assert splits.classes == ("games", "libs", "other", "python")
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 19
    assert len(splits.y_test) == round(0.2 * 19)
    assert splits.vocab_size <= 30 and splits.input_shape == (5,)
    again = datasets.load("debian-packages", path, val_fraction=0.2, vocab_size=30, seq_len=5)
    np.testing.assert_array_equal(again.x_test, splits.x_test)
    np.testing.assert_array_equal(again.y_train, splits.y_train)


def test_too_few_records_for_two_classes_is_a_clear_error(tmp_path: Path) -> None:
    path = packages_file(tmp_path / "Packages")  # no section reaches 1000 records: one class
    with pytest.raises(OnebitError, match="give 1 class"):
        datasets.load("debian-packages", path)


def test_a_file_without_stanzas_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Packages"
    path.write_text("just some text\n", "utf-8")
    with pytest.raises(OnebitError, match="no package stanza"):
        datasets.load("debian-packages", path)
    path.write_bytes(b"Package: x\nDescription: caf\xe9\n")
    with pytest.raises(OnebitError, match="not a UTF-8 Packages file"):
        datasets.load("debian-packages", path)


def test_the_index_is_cached_once_and_read_back(
    tmp_path: Path, monkeypatch, small_sections
) -> None:
    index = packages_file(tmp_path / "Packages").read_text("utf-8")
    calls = []

    def dump() -> str:
        calls.append(1)
        return index

    monkeypatch.setenv("ONEBIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(debian, "dump_package_index", dump)
    first = datasets.load("debian-packages", seq_len=5)
    second = datasets.load("debian-packages", seq_len=5)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.x_train, second.x_train)
    cache = tmp_path / "cache" / "debian-packages.jsonl"
    header = json.loads(cache.read_text("utf-8").splitlines()[0])
    assert header["records"] == 19 and len(header["sha256"]) == 64
    datasets.load("debian-packages", seq_len=5, rebuild=True)
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json\n", "not a records cache"),
        ('{"format": "something else"}\n', "not a 'onebit debian-packages records v1' file"),
        (
            '{"format": "onebit debian-packages records v1", "records": 2}\n["a", "b", "c"]\n',
            "records are missing or malformed",
        ),
        (
            '{"format": "onebit debian-packages records v1", "records": 1}\n["a", "", "c"]\n',
            "records are missing or malformed",
        ),
    ],
)
def test_a_corrupt_cache_is_refused(
    tmp_path: Path, monkeypatch, content: str, message: str
) -> None:
    monkeypatch.setenv("ONEBIT_CACHE", str(tmp_path))
    (tmp_path / "debian-packages.jsonl").write_text(content, "utf-8")
    with pytest.raises(OnebitError, match=message):
        datasets.load("debian-packages")


def test_no_apt_cache_is_a_clear_error(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ONEBIT_CACHE", str(tmp_path))
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    with pytest.raises(OnebitError, match="needs apt-cache"):
        datasets.load("debian-packages")
