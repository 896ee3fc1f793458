"""The Java binding (java/org/onebit/, csrc/bindings/onebit_jni.cpp over the C API): the Java
example (examples/java/Classify.java) classifies the mnist5k test digits exactly as the Python
runtime does, and the binding's failures are OnebitExceptions (tests/api/ProgramTest.java).

It needs a JDK (javac, java and its JNI headers); where one is missing the test is skipped and
``build/clib/java-result`` says why; ``.ci/run`` installs one and fails unless it says "passed".
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from helpers import cmake_build, run_command

pytestmark = pytest.mark.slow


def test_the_java_binding_classifies_as_the_python_runtime(clib, digits, tmp_path):
    result = clib.build / "java-result"
    result.unlink(missing_ok=True)
    missing = [tool for tool in ("cmake", "javac", "java") if shutil.which(tool) is None]
    if missing:
        needed = ", ".join(missing)
        reason = f"the Java binding test needs {needed} (apt-get install default-jdk-headless)"
        clib.build.mkdir(parents=True, exist_ok=True)
        result.write_text(f"skipped: {reason}\n")
        pytest.skip(reason)
    build = cmake_build(clib.root, clib.build / "host", *clib.configure, targets=["onebit_jni"])
    classes = tmp_path / "classes"
    sources = sorted((clib.root / "java" / "org" / "onebit").glob("*.java"))
    examples = [clib.root / "examples" / "java" / "Classify.java"]
    tests = [clib.root / "tests" / "api" / "ProgramTest.java"]
    run_command(["javac", "-Werror", "-d", classes, *sources, *examples, *tests], 300)
    java = ["java", f"-Djava.library.path={build}", "-cp", classes]
    output = run_command([*java, "ProgramTest", digits["model"]], 300)
    assert output.rstrip().endswith("0 failed") and "FAIL" not in output, output
    predicted = run_command([*java, "Classify", digits["model"], digits["images"]], 300)
    np.testing.assert_array_equal(np.array(predicted.split(), np.int64), digits["predicted"])
    result.write_text("passed\n")
