"""The C library (libonebit, csrc/api/onebit.h) without Python: built with CMake as a user would,
its API's checks (tests/api/api_test.c) pass, the example program (examples/c/classify.c)
classifies the mnist5k test digits exactly as the Python runtime does, and the install gives a
CMake package and a pkg-config file that a C program builds against.

On aarch64 (cross-built with g++-aarch64-linux-gnu, run under qemu-aarch64) the same checks pass
and the example's predictions equal x86's: ``build/clib/aarch64-result`` says "passed", or
"skipped: REASON" where a tool is missing; ``.ci/run`` installs the tools and fails unless it
passed. Nothing here measures speed (qemu's timings are not ARM timings).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import cmake_build, require_tools, run_command

QEMU = ("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu")

pytestmark = pytest.mark.slow


def classify(command: list, digits) -> np.ndarray:
    output = run_command([*command, digits["model"], digits["images"]], 600)
    return np.array(output.split(), dtype=np.int64)


def test_the_api_checks_pass(host_build, digits, switched):
    output = run_command([host_build / "onebit_api_test", digits["model"], switched["model"]], 120)
    assert output.rstrip().endswith("0 failed") and "FAIL" not in output, output
    line = next(line for line in output.splitlines() if line.startswith("logits 2,3,4:"))
    logits = np.array(line.split(":")[1].split(), dtype=np.float32)
    np.testing.assert_array_equal(logits, switched["logits_234"])


def test_the_c_example_classifies_as_the_python_runtime(host_build, digits):
    predicted = classify([host_build / "onebit_classify"], digits)
    np.testing.assert_array_equal(predicted, digits["predicted"])


def test_the_example_reports_the_accuracy_python_measures(host_build, digits):
    import subprocess

    done = subprocess.run(
        [host_build / "onebit_classify", digits["model"], digits["images"], digits["labels"], "2"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    assert done.stderr.strip() == f"accuracy {100 * digits['accuracy']:.2f}% on 1000 images"


def test_the_install_is_a_cmake_package_and_a_pkg_config_library(
    host_build, tmp_path, digits, clib
):
    prefix = tmp_path / "prefix"
    run_command(["cmake", "--install", host_build, "--prefix", prefix], 120)
    lib = next(p for p in (prefix / "lib", prefix / "lib64") if p.exists())
    assert (prefix / "include" / "onebit.h").is_file() and (lib / "libonebit.a").is_file()
    assert (lib / "cmake" / "onebit" / "onebitConfig.cmake").is_file()
    assert any(lib.glob("libonebit.so*"))
    pc = (lib / "pkgconfig" / "onebit.pc").read_text()
    assert "prefix=${pcfiledir}/" in pc and "-lonebit" in pc  # relocatable
    if shutil.which("pkg-config"):
        flags = run_command(["pkg-config", "--cflags", lib / "pkgconfig" / "onebit.pc"], 30)
        assert Path(flags.strip().removeprefix("-I")).resolve() == prefix / "include"
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.18)\nproject(consumer C CXX)\n"
        "find_package(onebit 0.1 REQUIRED)\n"
        f"add_executable(classify {clib.root / 'examples' / 'c' / 'classify.c'})\n"
        "target_link_libraries(classify PRIVATE onebit::onebit_static)\n"
        "set_target_properties(classify PROPERTIES LINKER_LANGUAGE CXX)\n"
    )
    build = cmake_build(consumer, tmp_path / "consumer-build", f"-DCMAKE_PREFIX_PATH={prefix}")
    np.testing.assert_array_equal(classify([build / "classify"], digits), digits["predicted"])


def test_the_c_library_on_aarch64_under_qemu_predicts_as_on_x86(digits, clib):
    result = clib.build / "aarch64-result"
    tools = ("cmake", "aarch64-linux-gnu-g++", "aarch64-linux-gnu-gcc", QEMU[0])
    packages = "g++-aarch64-linux-gnu qemu-user"
    require_tools(result, tools, "the aarch64 C library test", packages)
    build = cmake_build(
        clib.root, clib.build / "aarch64", *clib.aarch64_configure, targets=clib.targets
    )
    output = run_command([*QEMU, build / "onebit_api_test", digits["model"]], 300)
    assert output.rstrip().endswith("0 failed") and "FAIL" not in output, output
    predicted = classify([*QEMU, build / "onebit_classify"], digits)
    np.testing.assert_array_equal(predicted, digits["predicted"])
    result.write_text("passed\n")
