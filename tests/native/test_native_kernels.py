"""The packed kernels checked without Python (``tests/native/kernels_test.cpp``): the program is
built for this machine, where every SIMD path the CPU runs must match the portable path and the
scalar references bit for bit, and cross-built for aarch64 and run under qemu-user, where the NEON
path must.

The aarch64 test writes ``build/native/aarch64-result``: "passed", or "skipped: REASON" where the
cross compiler (``g++-aarch64-linux-gnu``) or qemu (``qemu-user``) is missing; ``.ci/run``
installs both and fails unless it says "passed". qemu's timings are not ARM timings: nothing here
measures speed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from helpers import SIMD_PATHS, cmake_build, native, run_command

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "native"
AARCH64_RESULT = BUILD / "aarch64-result"
CROSS_COMPILER = "aarch64-linux-gnu-g++"
QEMU = "qemu-aarch64"
AARCH64_SYSROOT = "/usr/aarch64-linux-gnu"  # the cross toolchain's loader and libraries
EM_AARCH64 = 183  # e_machine of an aarch64 ELF file
KERNELS = (
    "bitpack float32",
    "bitpack int8",
    "bgemm",
    "bgemm kernel",
    "bgemm == portable",
    "bconv2d",
    "bconv2d == portable",
    "peak loop",
)


def _build(name: str, *cmake_args: str) -> Path:
    """Configures and builds tests/native in build/native/NAME; returns the program's path."""
    return cmake_build(ROOT / "tests" / "native", BUILD / name, *cmake_args) / "kernels_test"


def _check_report(output: str, paths: list[str]) -> None:
    """The program ran exactly ``paths``, every kernel on each of them, and nothing failed."""
    runs = re.search(r"^paths run: (.*)$", output, re.MULTILINE)
    assert runs is not None and runs.group(1).split(", ") == paths, output
    for path in paths:
        for kernel in KERNELS:
            if path == "portable" and kernel.endswith("== portable"):
                continue
            row = rf"^  {re.escape(kernel)} {path} +[1-9]\d* passed, 0 failed$"
            assert re.search(row, output, re.MULTILINE), f"no passing '{kernel} {path}':\n{output}"
    total = re.search(r"^kernel checks: (\d+) passed, (\d+) failed$", output, re.MULTILINE)
    assert total is not None and int(total.group(1)) > 0 and total.group(2) == "0", output


@pytest.mark.slow
def test_every_simd_path_of_this_cpu_matches_the_portable_path_and_the_references() -> None:
    if shutil.which("cmake") is None:
        pytest.skip("the native kernel test needs cmake")
    output = run_command([str(_build("host"))], 120)
    # The program's paths are the extension's: the same sources, flags and CPU checks.
    runs = re.search(r"^paths run: (.*)$", output, re.MULTILINE)
    assert runs is not None, output
    paths = SIMD_PATHS if native is not None else runs.group(1).split(", ")
    assert paths[-1] == "portable"
    _check_report(output, paths)


@pytest.mark.slow
def test_the_neon_kernels_match_bit_for_bit_on_aarch64_under_qemu() -> None:
    AARCH64_RESULT.unlink(missing_ok=True)
    missing = [tool for tool in ("cmake", CROSS_COMPILER, QEMU) if shutil.which(tool) is None]
    if missing:
        reason = (
            f"the aarch64 kernel test needs {', '.join(missing)} "
            "(apt-get install g++-aarch64-linux-gnu qemu-user)"
        )
        BUILD.mkdir(parents=True, exist_ok=True)
        AARCH64_RESULT.write_text(f"skipped: {reason}\n")
        pytest.skip(reason)
    toolchain = ROOT / "cmake" / "aarch64-linux-gnu.cmake"
    program = _build("aarch64", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}")
    header = program.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == EM_AARCH64
    output = run_command([QEMU, "-L", AARCH64_SYSROOT, str(program)], 300)
    assert output.startswith("onebit native kernel test (aarch64"), output
    _check_report(output, ["neon", "portable"])
    AARCH64_RESULT.write_text("passed\n")
