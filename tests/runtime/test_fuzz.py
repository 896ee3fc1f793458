"""The loader under structured fuzzing: thousands of mutated files, each in a supervised worker;
no crash, hang, undocumented exception or non-finite output. The long run (100,000+ files) is
``onebit bench fuzz``."""

from __future__ import annotations

import sys
import textwrap

import pytest

from onebit.runtime.fuzz import FAILURES, Mutator, Worker, fuzz, seed_files
from onebit.runtime.fuzz.converted import converted_seeds

CASES = 2500


@pytest.mark.slow
@pytest.mark.parametrize("seed", [10])
def test_fuzzed_files_are_refused_or_run_finitely(tmp_path, seed):
    seeds = {**seed_files(), **converted_seeds()}
    report = fuzz(CASES, seed=seed, seeds=seeds, timeout=20, keep=tmp_path / "failures")
    assert report.failed == 0, report.summary()
    assert sum(report.outcomes.values()) == CASES
    assert report.outcomes["ok"] > CASES // 20 and report.outcomes["refused"] > CASES // 2
    assert set(report.by_kind) == set(Mutator(seeds).kinds)


def test_a_case_replays_from_its_index():
    mutator = Mutator(seed_files(), seed=3)
    first, again = mutator.case(17), mutator.case(17)
    assert (first.kind, first.detail, first.data) == (again.kind, again.detail, again.data)
    assert mutator.case(18).data != first.data


WORKER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    for line in sys.stdin:
        if "crash" in line:
            os.kill(os.getpid(), signal.SIGSEGV)
        if "hang" in line:
            time.sleep(60)
        if "raise" in line:
            sys.exit(3)
        print(json.dumps(["ok", ""]), flush=True)
    """
)


@pytest.mark.slow
def test_the_supervisor_reports_crashes_and_hangs_and_restarts_the_worker():
    worker = Worker(0, 0, command=[sys.executable, "-c", WORKER])
    try:
        outcomes = [
            worker.run(path, timeout=3) for path in ("a", "crash", "b", "hang", "raise", "c")
        ]
    finally:
        worker.close()
    assert [o for o, _ in outcomes] == ["ok", "crash", "ok", "hang", "crash", "ok"]
    assert "signal 11" in outcomes[1][1] and "exited with 3" in outcomes[4][1]
    assert set(FAILURES) >= {"crash", "hang"}
