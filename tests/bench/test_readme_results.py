"""The README's Results block is rendered from the committed ``docs/*.json``: it matches them,
says which targets are met, and names any file measured on a busy machine or another commit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from onebit import OnebitError
from onebit.bench import readme
from onebit.bench.readme import END, START, Target, render, with_block

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture
def docs(tmp_path) -> Path:
    """A copy of the committed result files, to alter."""
    copy = tmp_path / "docs"
    copy.mkdir()
    for stem in readme.FILES:
        shutil.copy(DOCS / f"{stem}.json", copy / f"{stem}.json")
    return copy


def edit(docs: Path, stem: str, change) -> None:
    path = docs / f"{stem}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_the_readme_block_is_the_rendering_of_the_committed_files():
    text = (ROOT / "README.md").read_text()
    assert with_block(text, render(DOCS)) == text, "run `python -m onebit.bench.readme`"


def test_every_figure_comes_from_its_file(docs):
    zoo = json.loads((docs / "zoo.json").read_text())["zoo"]
    quicknet = next(r for r in zoo["rows"] if r["model"] == "quicknet" and r["threads"] == 1)
    accuracy = json.loads((docs / "mlp_accuracy.json").read_text())["summary"][0]
    block = render(docs)
    assert f"| quicknet | {quicknet['onebit_ms']:.2f} ms |" in block
    assert f"{accuracy['test_mean']:.2f} ± {accuracy['test_std']:.2f}" in block

    def slower(doc):
        for row in doc["zoo"]["rows"]:
            row["onebit_ms"] *= 2

    edit(docs, "zoo", slower)
    assert f"| quicknet | {2 * quicknet['onebit_ms']:.2f} ms |" in render(docs)


def test_a_target_says_met_or_missed():
    at_least = Target("speed,", 6, "x")
    assert at_least.met(6) and not at_least.met(5.9)
    assert at_least.sentence(7.0, "7.0x") == "speed, at least 6x: 7.0x, met"
    at_most = Target("time,", 60, " s", at_most=True)
    assert at_most.met(60) and not at_most.met(61)
    assert at_most.sentence(61, "61 s").endswith("**missed**")


def test_accuracy_below_the_target_is_reported_missed(docs):
    def worse(doc):
        for row in doc["summary"]:
            if row["dataset"] == "mnist5k" and row["model"] == "binarynet-mlp":
                row["test_mean"] = 93.5

    edit(docs, "mlp_accuracy", worse)
    line = next(line for line in render(docs).splitlines() if "on mnist5k (plain" in line)
    assert line.endswith("93.50%, **missed**.")


def test_a_busy_machine_or_a_second_commit_is_named(docs):
    def busy(doc):
        doc["machine"]["provenance"]["warning"] = "machine not idle: load 1.50 before the start"
        doc["machine"]["commit"] = "abc1234"

    edit(docs, "bgemm", busy)
    block = render(docs)
    assert "**bgemm: machine not idle: load 1.50 before the start**" in block
    assert "**The files name different commits**" in block
    assert "No file records a dirty tree" not in block


def test_a_missing_or_broken_file_is_named(docs):
    (docs / "zoo.json").unlink()
    with pytest.raises(OnebitError, match=r"zoo\.json is missing"):
        render(docs)
    (docs / "zoo.json").write_text("{")
    with pytest.raises(OnebitError, match=r"zoo\.json is not JSON"):
        render(docs)


def test_writing_replaces_only_the_block_and_check_reports_a_difference(docs, tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# title\n\n{START}stale figures\n{END}\n\ntail\n")
    said: list[str] = []
    args = ["--docs", str(docs), "--readme", str(page)]
    assert readme.main([*args, "--check"], out=said.append) == 1
    assert "differs" in said[-1]
    assert readme.main(args, out=said.append) == 0
    text = page.read_text()
    assert text.startswith("# title\n\n" + START) and text.endswith(END + "\n\ntail\n")
    assert "stale figures" not in text and "| quicknet |" in text
    assert readme.main([*args, "--check"], out=said.append) == 0


def test_a_readme_without_markers_is_refused(docs, tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# no block here\n")
    with pytest.raises(OnebitError, match="no results block"):
        with_block(page.read_text(), "x")
    said: list[str] = []
    assert readme.main(["--docs", str(docs), "--readme", str(page)], out=said.append) == 2
    assert said[-1].startswith("error: the README has no results block")
