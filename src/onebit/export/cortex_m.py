"""Build a generated C model for a Cortex-M and run it under QEMU: the proof that the exported C
runs on a microcontroller, and where its flash, RAM and instruction counts come from.

The firmware is the model, ``cortex_m/harness.c`` (runs it on embedded inputs, prints predictions
and logits over semihosting) and ``cortex_m/startup.c`` (vector table, reset, semihosting), linked
by ``cortex_m/mps2.ld`` for QEMU's MPS2 boards with Debian's ``gcc-arm-none-eabi`` and newlib-nano
(for ``memcpy``). ``-icount shift=0`` makes QEMU's clock advance with every instruction, so the
SysTick ticks of one inference, scaled by a calibration loop of known length, count its
instructions.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from onebit.export.c_model import CExport
from onebit.export.c_ops import ExportError
from onebit.export.c_source import const_array

CPUS = {
    # cpu: (compiler flags, the QEMU board whose core runs that code)
    "cortex-m4": (
        ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
        "mps2-an386",
    ),
    "cortex-m3": (["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"], "mps2-an385"),
    # ARMv6-M code is a subset of ARMv7-M: the M3 board runs it, instruction for instruction.
    "cortex-m0plus": (
        ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft", "-DONEBIT_SLOW_MULTIPLY"],
        "mps2-an385",
    ),
}
COMPILER = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"
TIMEOUT_S = 600


def missing_tools() -> str | None:
    """Why the Cortex-M build or run cannot happen here, or None when every tool is present."""
    for tool in (COMPILER, "arm-none-eabi-size", QEMU):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian: gcc-arm-none-eabi, qemu-system-arm)"
    probe = subprocess.run(
        [COMPILER, "--specs=nano.specs", "-print-file-name=libc_nano.a"],
        capture_output=True,
        text=True,
    )
    if not Path(probe.stdout.strip()).is_file():
        return "newlib-nano is not installed (Debian: libnewlib-arm-none-eabi)"
    return None


@dataclass(frozen=True)
class Firmware:
    elf: Path
    cpu: str
    flash_bytes: int  # text + data
    ram_bytes: int  # data + bss (the arena, the harness's buffers), without the stack


@dataclass(frozen=True)
class Inference:
    prediction: int
    logits: np.ndarray
    instructions: int


@dataclass(frozen=True)
class Run:
    """A firmware's run: each input's inference, and the instructions of each op of the first."""

    inferences: list[Inference]
    op_instructions: list[int]


def _asset(name: str) -> Path:
    return Path(str(resources.files("onebit.export").joinpath("cortex_m", name)))


def _run(command: list[str], what: str, timeout: float = TIMEOUT_S) -> str:
    """The command's output, stdout then stderr (QEMU writes semihosting text to stderr when
    its standard input is not a terminal)."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise ExportError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout + result.stderr


def build(
    model: CExport, inputs: np.ndarray, cpu: str, out_dir: Path, optimize: str = "-O2"
) -> Firmware:
    """Compile ``model`` with ``inputs`` (``(N, input_size)`` floats) into firmware for ``cpu``."""
    if cpu not in CPUS:
        raise ExportError(f"unknown cpu {cpu!r}; known: {', '.join(CPUS)}")
    inputs = np.ascontiguousarray(inputs, dtype=np.float32).reshape(len(inputs), -1)
    if inputs.shape[1] != model.input_size:
        raise ExportError(
            f"inputs have {inputs.shape[1]} values, the model takes {model.input_size}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    table, _ = const_array("float", "ob_input_values", inputs)
    (out_dir / "ob_inputs.h").write_text(
        f"{table}#define OB_INPUT_COUNT {len(inputs)}\n"
        f"#define ob_inputs(i) (ob_input_values + (i) * {model.input_size})\n"
    )
    flags, _ = CPUS[cpu]
    upper = model.name.upper()
    elf = out_dir / f"{model.name}-{cpu}.elf"
    command = [
        COMPILER,
        *flags,
        "-std=c99",
        optimize,
        "-Wall",
        "-Wextra",
        "-Werror",
        "-ffunction-sections",
        "-fdata-sections",
        "--specs=nano.specs",
        "-nostartfiles",
        f"-T{_asset('mps2.ld')}",
        "-Wl,--gc-sections",
        f"-I{model.source.parent}",
        f"-I{out_dir}",
        f'-DOB_HEADER="{model.header.name}"',
        f"-DOB_RUN={model.name}_run",
        f"-DOB_OUTPUT_SIZE={upper}_OUTPUT_SIZE",
        "-DONEBIT_OP_HOOK=ob_op_done",
        str(model.source),
        str(_asset("harness.c")),
        str(_asset("startup.c")),
        "-o",
        str(elf),
    ]
    _run(command, f"{COMPILER} for {cpu}")
    return Firmware(elf, cpu, *size(elf))


def footprint(model: CExport, cpu: str, out_dir: Path, optimize: str = "-O2") -> tuple[int, int]:
    """(flash, RAM) bytes of the model alone on ``cpu``: its object file's code and constants
    (text + data), and its static data (data + bss: the arena). No harness, no C library, no
    stack."""
    if cpu not in CPUS:
        raise ExportError(f"unknown cpu {cpu!r}; known: {', '.join(CPUS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / f"{model.name}-{cpu}.o"
    flags, _ = CPUS[cpu]
    command = [COMPILER, *flags, "-std=c99", optimize, "-Wall", "-Wextra", "-Werror", "-c"]
    _run([*command, str(model.source), "-o", str(obj)], f"{COMPILER} -c for {cpu}")
    lines = _run(["arm-none-eabi-size", str(obj)], "arm-none-eabi-size").splitlines()
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return text + data, data + bss


def size(elf: Path) -> tuple[int, int]:
    """(flash, RAM) bytes of a firmware: text + data, data + bss (the stack not counted)."""
    lines = _run(["arm-none-eabi-size", str(elf)], "arm-none-eabi-size").splitlines()
    text, data, bss = (int(v) for v in lines[1].split()[:3])
    return text + data, data + bss


def run(firmware: Firmware, outputs: int) -> Run:
    """Run ``firmware`` on its QEMU board: each input's prediction, logits and instructions, and
    the instructions of each op of the first input (an op that takes under one SysTick tick,
    40 instructions on the MPS2 boards, may read 0)."""
    _, board = CPUS[firmware.cpu]
    stdout = _run(
        [
            QEMU,
            "-machine",
            board,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-icount",
            "shift=0",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            str(firmware.elf),
        ],
        f"{QEMU} -machine {board}",
    )
    lines = stdout.splitlines()
    calibration = [line.split() for line in lines if line.startswith("calibration")]
    if not calibration:
        raise ExportError(f"the firmware did not finish; it printed: {stdout[-500:]!r}")
    ticks, loops = int(calibration[0][1]), int(calibration[0][2])
    per_tick = 2 * loops / ticks  # the loop: subs + bne per iteration
    results, ops = [], []
    for line in lines:
        fields = line.split()
        if fields[:1] == ["op"]:
            ops.append(round(int(fields[2]) * per_tick))
        if not fields or not fields[0].isdigit():
            continue
        logits = np.array([int(v, 16) for v in fields[3:]], np.uint32).view(np.float32)
        if len(logits) != outputs:
            raise ExportError(f"a firmware line has {len(logits)} logits, not {outputs}: {line}")
        results.append(Inference(int(fields[1]), logits, round(int(fields[2]) * per_tick)))
    return Run(results, ops)
