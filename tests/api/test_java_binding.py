"""The Java binding (java/org/onebit/, csrc/bindings/onebit_jni.cpp over the C API): the Java
example (examples/java/Classify.java) classifies the mnist5k test digits exactly as the Python
runtime does, and the binding's failures are OnebitExceptions (tests/api/ProgramTest.java).

The JNI library also cross-builds for aarch64 (with the build machine's JDK headers), exporting
every native method of Program.java.

It needs a JDK (javac, java and its JNI headers) and, for aarch64, the cross compiler; where one
is missing the test is skipped and ``build/clib/java-result`` (``jni-aarch64-result``) says why;
``.ci/run`` installs them and fails unless both say "passed".
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from helpers import cmake_build, require_tools, run_command

pytestmark = pytest.mark.slow


def test_the_java_binding_classifies_as_the_python_runtime(clib, digits, switched, tmp_path):
    result = clib.build / "java-result"
    tools = ("cmake", "javac", "java")
    require_tools(result, tools, "the Java binding test", "default-jdk-headless")
    build = cmake_build(clib.root, clib.build / "host", *clib.configure, targets=["onebit_jni"])
    classes = tmp_path / "classes"
    sources = sorted((clib.root / "java" / "org" / "onebit").glob("*.java"))
    examples = [clib.root / "examples" / "java" / "Classify.java"]
    tests = [clib.root / "tests" / "api" / "ProgramTest.java"]
    run_command(["javac", "-Werror", "-d", classes, *sources, *examples, *tests], 300)
    java = ["java", f"-Djava.library.path={build}", "-cp", classes]
    output = run_command([*java, "ProgramTest", digits["model"], switched["model"]], 300)
    assert output.rstrip().endswith("0 failed") and "FAIL" not in output, output
    line = next(line for line in output.splitlines() if line.startswith("logits 2,3,4:"))
    logits = np.array(line.split(":")[1].split(), dtype=np.float32)  # Float.toString round-trips
    np.testing.assert_array_equal(logits, switched["logits_234"])
    predicted = run_command([*java, "Classify", digits["model"], digits["images"]], 300)
    np.testing.assert_array_equal(np.array(predicted.split(), np.int64), digits["predicted"])
    result.write_text("passed\n")


ELF_MACHINE_AARCH64 = 183


def test_the_jni_library_cross_builds_for_aarch64_with_every_native_method(clib):
    """An Android or ARM Linux app loads libonebit_jni.so for its ABI: the aarch64 build is an
    AArch64 ELF library that exports a JNI symbol for each ``native`` method of Program.java."""
    result = clib.build / "jni-aarch64-result"
    tools = ("cmake", "aarch64-linux-gnu-g++", "aarch64-linux-gnu-nm", "javac")
    packages = "g++-aarch64-linux-gnu default-jdk-headless"
    require_tools(result, tools, "the aarch64 JNI build", packages)
    build = cmake_build(
        clib.root, clib.build / "aarch64", *clib.aarch64_configure, targets=["onebit_jni"]
    )
    library = build / "libonebit_jni.so"
    header = library.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and header[4] == 2  # a 64-bit ELF file
    assert struct.unpack_from("<H", header, 18)[0] == ELF_MACHINE_AARCH64
    source = (clib.root / "java" / "org" / "onebit" / "Program.java").read_text()
    methods = re.findall(r"\bnative\s+[\w\[\]]+\s+(\w+)\s*\(", source)
    assert len(methods) >= 8, methods
    symbols = run_command(["aarch64-linux-gnu-nm", "-D", "--defined-only", library], 60)
    exported = set(re.findall(r"\bT\s+(Java_\w+)", symbols))
    assert {f"Java_org_onebit_Program_{name}" for name in methods} <= exported, exported
    result.write_text("passed\n")
