"""The C++ executor (csrc/executor/, ``onebit._native.Program``) against the Python runtime's
Program: on every program whose ops it implements, it accepts and refuses the same graphs with
the same messages, and computes the same outputs bit for bit (both run the same kernels)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from onebit.runtime import Program as PythonProgram
from onebit.runtime.errors import ProgramError
from onebit.runtime.fuzz.seeds import mlp_seed

native = pytest.importorskip("onebit._native")

PORTED = {
    "add", "affine", "avgpool2d", "binary_concat", "binary_conv2d", "binary_dense",
    "binary_maxpool2d", "concat", "conv2d", "dense", "flatten", "global_avgpool", "hardtanh",
    "maxpool2d", "nchw_to_nhwc", "nhwc_to_nchw", "pad", "prelu", "relu", "sign_pack",
}  # fmt: skip
LIMITS = {"max_memory": 4 * 2**30, "max_work": 2**36}


def native_program(graph, tensors, **limits):
    text = graph if isinstance(graph, str) else json.dumps(graph)
    return native.Program(text, dict(tensors), list(tensors), **{**LIMITS, **limits})


def outcome(build, *args):
    try:
        return "ok", build(*args)
    except ProgramError as error:
        return "refused", str(error)


@pytest.mark.parametrize("batch", [1, 3, 17])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_mlp_seed_runs_bit_for_bit_as_the_python_runtime(batch, threads):
    graph, tensors = mlp_seed()
    expected = PythonProgram(graph, tensors)
    program = native_program(graph, tensors)
    x = np.random.default_rng(batch).standard_normal((batch, 1, 8, 8)).astype(np.float32)
    got = program.run(x, threads=threads)
    want = expected(x)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def ported(graph) -> bool:
    """Whether every op type the graph names is one the C++ executor has (a malformed op is
    refused by both)."""
    ops = graph.get("ops") if isinstance(graph, dict) else None
    types = [op.get("type") for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []
    return all(not isinstance(kind, str) or kind in PORTED for kind in types)


@pytest.fixture(scope="module")
def mutator():
    from onebit.runtime.fuzz.mutations import Mutator
    from onebit.runtime.fuzz.seeds import assemble, graph_text

    graph, tensors = mlp_seed()
    return Mutator({"mlp": assemble(graph_text(graph), tensors)}, seed=7)


@pytest.mark.parametrize("start", range(0, 3000, 500))
def test_mutated_graphs_are_accepted_and_refused_as_the_python_runtime_does(mutator, start):
    from onebit.runtime.errors import ProgramFileError
    from onebit.runtime.format import parse_program

    compared = 0
    for index in range(start, start + 500):
        case = mutator.case(index)
        try:
            graph, tensors = parse_program(case.data)
        except ProgramFileError:
            continue  # refused by the file reader, before any graph check
        if not ported(graph):
            continue
        python = outcome(PythonProgram, graph, tensors)
        cpp = outcome(native_program, graph, tensors)
        where = f"case {index} ({case.kind}: {case.detail})"
        assert python[0] == cpp[0], f"{where}: python {python}, C++ {cpp}"
        if python[0] == "refused":
            assert python[1] == cpp[1], where
        else:
            x = np.random.default_rng(index).uniform(-2, 2, (2, *python[1].input_shape))
            x = x.astype(np.float32)
            np.testing.assert_array_equal(cpp[1].run(x, threads=1), python[1](x), err_msg=where)
        compared += 1
    assert compared > 100
