"""The C++ executor (csrc/executor/, ``onebit._native.Program``) against the reference executor
(``onebit.runtime.reference_program``): on every program, it accepts and refuses the same graphs
with the same messages, and computes the same outputs bit for bit (both run the same kernels)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_program_file_native import same_message  # tests/runtime is on the path

from onebit.runtime.errors import ProgramFileError
from onebit.runtime.fuzz.seeds import mlp_seed
from onebit.runtime.fuzz.supervise import sample_input
from onebit.runtime.reference_program import ReferenceProgram

native = pytest.importorskip("onebit._native")

LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


def native_program(graph, tensors, **limits):
    text = graph if isinstance(graph, str) else json.dumps(graph)
    return native.Program(text, dict(tensors), list(tensors), **{**LIMITS, **limits})


def outcome(build, *args):
    try:
        return "ok", build(*args)
    except ProgramFileError as error:  # a ProgramError is one
        return "refused", str(error)


@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_mlp_seed_runs_bit_for_bit_as_the_python_runtime(batch, threads):
    graph, tensors = mlp_seed()
    expected = ReferenceProgram(graph, tensors)
    program = native_program(graph, tensors)
    x = np.random.default_rng(batch).standard_normal((batch, 1, 8, 8)).astype(np.float32)
    got = program.run(x, threads=threads)
    want = expected(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def mutator():
    from onebit.runtime.fuzz.mutations import Mutator
    from onebit.runtime.fuzz.seeds import seed_files

    return Mutator(seed_files(), seed=7)


def assert_same_verdicts(mutator, indices) -> None:
    """Each fuzzed file through both loaders, file and graph: the same verdict, the same message,
    and for an accepted program the same outputs (bit for bit, but for a grouped float conv,
    which NumPy's matmul sums in another order)."""
    from onebit.runtime.format import parse_program

    for index in indices:
        case = mutator.case(index)

        def python_load(data=case.data):
            return ReferenceProgram(*parse_program(data))

        python = outcome(python_load)
        cpp = outcome(native.Program.load_bytes, case.data, *LIMITS.values())
        where = f"case {index} ({case.seed}, {case.kind}: {case.detail})"
        assert python[0] == cpp[0], f"{where}: python {python}, C++ {cpp}"
        if python[0] == "refused":
            assert same_message(python[1], cpp[1]), f"{where}: {python[1]!r} != {cpp[1]!r}"
            continue
        x = sample_input(python[1], np.random.default_rng(index), 2, 2.0)
        want, got = python[1](x), cpp[1].run(x, threads=1)
        grouped = any(op.type == "conv2d" and 1 < op.groups < op.cin for op in python[1].ops)
        if grouped and want.dtype == np.float32:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=where)
        elif not grouped:
            np.testing.assert_array_equal(got, want, err_msg=where)


@pytest.mark.parametrize("start", range(0, 4000, 500))
def test_mutated_files_are_accepted_and_refused_as_the_reference_executor_does(mutator, start):
    assert_same_verdicts(mutator, range(start, start + 500))
