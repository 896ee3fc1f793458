"""The exported C on microcontrollers: built by Debian's gcc-arm-none-eabi (newlib-nano) for a
Cortex-M4 (hard float), a Cortex-M3 and a Cortex-M0+ (soft float), run under qemu-system-arm on
the MPS2 boards, it prints over semihosting the same logits, bit for bit, as the runtime on the
host.

The test writes ``build/mcu/cortex-m-result``: "passed", or "skipped: REASON" where a tool is
missing; ``.ci/run`` installs them (gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)
and fails unless it says "passed". Instruction counts come from QEMU's -icount clock: a proxy for
latency, checked here only for being positive and about equal across inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import dyadic_conv_bnn
from onebit.export import cortex_m, to_c

ROOT = Path(__file__).resolve().parents[2]
RESULT = ROOT / "build" / "mcu" / "cortex-m-result"
CPUS = tuple(cortex_m.CPUS)
IMAGES = 20
PASSED: set[str] = set()  # the Cortex-M tests of this module that passed, by name


@pytest.fixture(scope="module")
def toolchain():
    reason = cortex_m.missing_tools()
    if reason is not None:
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(f"skipped: {reason}\n")
        pytest.skip(reason)
    return True


def run_on(program, x, cpu, tmp_path, name):
    export = to_c(program, tmp_path / "c", name=name)
    firmware = cortex_m.build(export, x, cpu, tmp_path / cpu)
    assert firmware.ram_bytes > 0 and export.const_bytes < firmware.flash_bytes
    run = cortex_m.run(firmware, export.output_size)
    assert len(run.inferences) == len(x)
    return export, firmware, run


@pytest.mark.slow
@pytest.mark.parametrize("cpu", CPUS)
def test_the_trained_mlp_gives_the_runtimes_logits_on_every_cortex_m(
    toolchain, trained_mlp, tmp_path, cpu
):
    program, data = trained_mlp
    x = np.ascontiguousarray(data.x_test[:IMAGES], dtype=np.float32)
    _, _, run = run_on(program, x, cpu, tmp_path, "mlp")
    results = run.inferences
    logits = np.stack([r.logits for r in results])
    expected = program(x)
    np.testing.assert_array_equal(logits.view(np.uint32), expected.view(np.uint32))
    assert [r.prediction for r in results] == list(expected.argmax(1))
    counts = np.array([r.instructions for r in results])
    # soft float (M3, M0+) takes data-dependent paths; the integer work does not
    assert counts.min() > 100_000 and counts.max() < 1.5 * counts.min()
    # every op of the first inference is timed, and together they make up the inference
    assert len(run.op_instructions) == len(program.ops)
    assert abs(sum(run.op_instructions) - counts[0]) < 0.01 * counts[0]
    PASSED.add(f"mlp {cpu}")


@pytest.mark.slow
@pytest.mark.parametrize("cpu", CPUS)
def test_a_conv_bnn_gives_the_runtimes_logits_on_every_cortex_m(toolchain, tmp_path, cpu):
    program, x = dyadic_conv_bnn(seed=0, count=IMAGES)
    _, _, run = run_on(program, x, cpu, tmp_path, "cnn")
    logits = np.stack([r.logits for r in run.inferences])
    np.testing.assert_array_equal(logits.view(np.uint32), program(x).view(np.uint32))
    PASSED.add(f"cnn {cpu}")


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("words", [1, 2, 3, 5, 24, 25])
def test_a_binary_dense_of_any_width_builds_at_o2_with_warnings_as_errors(
    toolchain, tmp_path, cpu, words
):
    # GCC 12 once refused 24 words (-Waggressive-loop-optimizations in ob_xor_popcount's tail)
    from onebit.runtime import Program
    from onebit.runtime.reference import bitpack

    rng = np.random.default_rng(words)
    k = 32 * words
    graph = {
        "version": 1,
        "input": {"name": "x", "shape": [k]},
        "output": "y",
        "ops": [
            {"type": "sign_pack", "inputs": ["x"], "output": "s", "attrs": {}, "tensors": {}},
            {
                "type": "binary_dense",
                "inputs": ["s"],
                "output": "y",
                "attrs": {"k": k, "epilogue": "float"},
                "tensors": {"weight": "w", "scale": "ws", "bias": "wb"},
            },
        ],
    }
    tensors = {
        "w": bitpack(rng.choice([-1, 1], size=(5, k)).astype(np.int8)),
        "ws": rng.normal(size=5).astype(np.float32),
        "wb": rng.normal(size=5).astype(np.float32),
    }
    export = to_c(Program(graph, tensors), tmp_path / "c", name="dense")
    flash, ram = cortex_m.footprint(export, cpu, tmp_path / cpu)
    assert flash > 0 and ram > 0


@pytest.mark.slow
def test_every_cortex_m_run_passed(toolchain):
    """Last in the file: records "passed" once every Cortex-M test above has passed."""
    expected = {f"{model} {cpu}" for model in ("mlp", "cnn") for cpu in CPUS}
    assert expected == PASSED, f"did not pass: {sorted(expected - PASSED)}"
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("passed\n")
