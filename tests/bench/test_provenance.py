"""Provenance of result files: the commit with a dirty marker, a hash of the uncommitted diff,
"unknown" outside git, the idle rule, and the clean-tree check ``make reports`` runs."""

from __future__ import annotations

import subprocess

import pytest

from onebit.bench import provenance
from onebit.bench.provenance import (
    Provenance,
    describe,
    diff_sha256,
    idle_warning,
    provenance_lines,
    require_clean,
)


def git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with one committed file, ``code.py``."""
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "test")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "test@example.com")
    git(tmp_path, "init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git(tmp_path, "add", "code.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_tree_has_no_dirty_marker_and_no_diff_hash(repo):
    head = git(repo, "rev-parse", "--short=7", "HEAD")
    assert describe(repo) == head
    assert diff_sha256(repo) is None
    assert require_clean(repo) is None


def test_modified_file_marks_dirty_and_the_hash_follows_the_diff(repo):
    (repo / "code.py").write_text("x = 2\n")
    assert describe(repo).endswith("-dirty")
    first = diff_sha256(repo)
    assert first is not None and len(first) == 64
    assert diff_sha256(repo) == first  # the same change, the same hash
    (repo / "code.py").write_text("x = 3\n")
    assert diff_sha256(repo) != first
    assert "uncommitted" in require_clean(repo)


def test_untracked_files_count_in_the_hash_by_name_and_content(repo):
    (repo / "new.py").write_text("a\n")
    first = diff_sha256(repo)
    assert first is not None
    (repo / "new.py").write_text("b\n")
    assert diff_sha256(repo) not in (None, first)
    (repo / ".gitignore").write_text("ignored.txt\n")
    before = diff_sha256(repo)
    (repo / "ignored.txt").write_text("anything")
    assert diff_sha256(repo) == before  # ignored files are not part of the measured code


def test_reports_written_under_docs_do_not_dirty_the_next_measurement(repo):
    (repo / "docs").mkdir()
    (repo / "docs" / "bgemm.json").write_text("{}")
    assert not describe(repo).endswith("-dirty")
    assert diff_sha256(repo) is None
    assert require_clean(repo) is not None  # but `make reports` still needs a clean start


def test_outside_git_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert describe(tmp_path) == "unknown"
    assert diff_sha256(tmp_path) is None
    assert "not in a git checkout" in require_clean(tmp_path)


def test_require_clean_command_exits_1_with_the_reason(repo, capsys):
    assert provenance.main(["--require-clean", "--source", str(repo)]) == 0
    (repo / "code.py").write_text("x = 2\n")
    assert provenance.main(["--require-clean", "--source", str(repo)]) == 1
    assert "figures must name a clean commit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("before", "after", "threads", "idle"),
    [
        (0.1, 1.9, 2, True),  # the benchmark's own two threads raise the load
        (0.5, 2.5, 2, True),  # both limits are inclusive
        (0.6, 1.0, 2, False),  # something ran before the start
        (0.1, 2.6, 2, False),  # more than the benchmark's own threads after
        (0.1, 1.6, 1, False),
        (None, None, 2, True),  # no load average on this OS: no verdict against it
    ],
)
def test_idle_rule(before, after, threads, idle):
    warning = idle_warning(before, after, threads)
    assert (warning is None) == idle
    if not idle:
        assert warning.startswith("machine not idle")


def test_provenance_start_finish_records_load_and_verdict(repo):
    taken = Provenance.start(repo)
    record = taken.finish(threads=2)
    assert record["commit"] == describe(repo) and record["threads"] == 2
    assert record["idle"] == (record["warning"] is None)
    assert {"diff_sha256", "simd", "load_before", "load_after"} <= set(record)


def test_lines_warn_when_dirty_or_busy_and_not_otherwise():
    clean = {
        "commit": "abc1234",
        "diff_sha256": None,
        "simd": "avx2",
        "load_before": 0.1,
        "load_after": 1.2,
        "threads": 2,
        "idle": True,
        "warning": None,
    }
    assert not any("Warning" in line for line in provenance_lines(clean))
    assert "Commit abc1234; SIMD path avx2" in provenance_lines(clean)[0]
    dirty = {**clean, "commit": "abc1234-dirty", "diff_sha256": "f" * 64}
    assert any("uncommitted" in line for line in provenance_lines(dirty)[1:])
    busy = {**clean, "idle": False, "warning": "machine not idle: load 3.00 before the start"}
    assert "**Warning: machine not idle: load 3.00 before the start.**" in provenance_lines(busy)


def test_make_reports_checks_the_tree_first_and_renders_the_readme_last():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text().splitlines()
    start = makefile.index("reports: $(STAMP)")
    end = next(i for i in range(start + 1, len(makefile)) if not makefile[i].startswith("\t"))
    recipe: list[str] = []
    for line in makefile[start + 1 : end]:  # a line ending in a backslash goes on below
        if recipe and recipe[-1].endswith("\\"):
            recipe[-1] = f"{recipe[-1][:-1].rstrip()} {line.strip()}"
        else:
            recipe.append(line.strip())
    assert recipe[0] == "$(BIN)/python -m onebit.bench.provenance --require-clean"
    assert recipe.pop() == "$(BIN)/python -m onebit.bench.readme"  # last: README from the JSON
    assert all(line.startswith("$(WAIT_IDLE) && ") for line in recipe[1:])
    recipe[1:] = [line.removeprefix("$(WAIT_IDLE) && ") for line in recipe[1:]]
    names = [line.split()[1:3] for line in recipe[1:]]
    assert names == [
        *(
            ["bench", name]
            for name in ("bgemm", "bconv2d", "kbit", "zoo", "hourglass", "hourglass", "mlp", "fuzz")
        ),
        *(
            ["experiment", name]
            for name in ("accuracy", "ablation", "ablation", "dybnn", "bitmixer", "bitmixer", "mcu")
        ),
        ["bench", "mcu"],  # it reads the programs the MCU experiment wrote
        ["bench", "energy"],
        ["search", "bats"],
        ["experiment", "bats"],  # it trains the genotype the search wrote
        ["experiment", "text"],
        ["experiment", "speech"],
    ]
    assert "--checkpoint $(DEMO_DIR)/checkpoint.pt" in recipe[3]  # the demo's first layer
    assert recipe[6].endswith("--binary-head --out docs/hourglass-binary-head.json")
    assert "--cases 100000 --jobs 2" in recipe[8]
    assert all(line.endswith("--out docs") for line in recipe[9:16])
    assert "runs/mcu/seed0/model.onebit" in recipe[16]
    assert recipe[18].endswith("--out docs/bats-search-mnist5k")
    assert "--genotype docs/bats-search-mnist5k/genotype.json --out docs" in recipe[19]
    assert all(line.endswith("--out docs") for line in recipe[20:])


def test_machine_info_without_a_start_judges_only_the_load_after():
    from onebit.bench.report import machine_info

    record = machine_info()["provenance"]
    assert record["load_before"] is None and record["threads"] >= 1
    assert record["commit"] == describe()
    assert "n/a before" in provenance_lines(record)[0]


def test_wait_until_idle_polls_until_the_load_falls_below_the_idle_limit():
    from onebit.bench.provenance import IDLE_LOAD_BEFORE, WAIT_IDLE_LOAD, wait_until_idle

    assert WAIT_IDLE_LOAD < IDLE_LOAD_BEFORE  # room for the next command's own start-up
    readings = iter([1.9, 1.2, IDLE_LOAD_BEFORE, WAIT_IDLE_LOAD, 0.1])
    slept: list[float] = []
    last = wait_until_idle(60, poll_s=5, load=lambda: next(readings), sleep=slept.append)
    assert last == WAIT_IDLE_LOAD and slept == [5, 5, 5]


def test_wait_until_idle_gives_up_after_its_limit_and_returns_the_busy_load():
    from onebit.bench.provenance import wait_until_idle

    slept: list[float] = []
    assert wait_until_idle(12, poll_s=5, load=lambda: 3.0, sleep=slept.append) == 3.0
    assert slept == [5, 5, 2]
    assert wait_until_idle(12, load=lambda: None, sleep=slept.append) is None  # no load average
    assert slept == [5, 5, 2]


def test_wait_idle_on_the_command_line_rejects_negative_seconds(capsys):
    from onebit.bench.provenance import main

    with pytest.raises(SystemExit) as raised:
        main(["--wait-idle", "-1"])
    assert raised.value.code == 2
    assert "--wait-idle takes seconds >= 0, not -1" in capsys.readouterr().err
