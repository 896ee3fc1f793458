"""The runtime-only install: ``pip install onebit`` brings numpy and safetensors, and that is all
``onebit.runtime`` may import. A subprocess blocks every other import (a ``sys.meta_path`` finder
that lets only the standard library, numpy, safetensors and onebit through), which stands in for
a fresh virtual environment at a fraction of the time."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from onebit import models
from onebit.convert import convert

BLOCKER = """
import importlib.abc, sys

ALLOWED = {"numpy", "safetensors", "onebit"}


class OnlyTheRuntimeInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in ALLOWED or top in sys.stdlib_module_names:
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)


sys.meta_path.insert(0, OnlyTheRuntimeInstall())
"""


def run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def saved_program(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path]:
    """A converted binary MLP, an input batch and the program's output on it (from here)."""
    from onebit.runtime import load

    root = tmp_path_factory.mktemp("runtime-install")
    torch.manual_seed(0)
    shape = {"input_shape": (1, 8, 8), "num_classes": 10}  # digits' shape
    model = models.create("binarynet-mlp", hidden=64, depth=2, **shape).eval()
    path = root / "mlp.onebit"
    convert(model, torch.zeros(1, 1, 8, 8)).save(path)
    x = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    np.save(root / "x.npy", x)
    np.save(root / "expected.npy", load(path)(x))
    return path, x, root


def test_the_runtime_loads_and_runs_a_program_with_only_numpy_and_safetensors(saved_program):
    path, _, root = saved_program
    done = run_without_extras(
        f"""
        import numpy as np
        import onebit
        from onebit import runtime
        from onebit.runtime.blas import blas_libraries

        program = runtime.load({str(path)!r})
        x = np.load({str(root / "x.npy")!r})
        np.save({str(root / "y.npy")!r}, program(x))
        print(program.predict(x, batch_size=4).tolist())
        assert blas_libraries() == []  # no threadpoolctl: BLAS threads are left as they are
        for name in ("torch", "threadpoolctl", "typer", "rich"):
            assert name not in sys.modules, name
        """
    )
    assert done.returncode == 0, done.stderr
    output = np.load(root / "y.npy")
    np.testing.assert_array_equal(output, np.load(root / "expected.npy"))
    assert done.stdout.strip() == str(output.argmax(axis=-1).tolist())


def test_onebit_run_needs_no_torch(saved_program):
    path = saved_program[0]
    script = f"""
import importlib.abc, sys


class NoTorch(importlib.abc.MetaPathFinder):  # as if torch were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)


sys.meta_path.insert(0, NoTorch())
from onebit.cli import app
try:
    app(["run", {str(path)!r}, "--data", "digits", "--threads", "1"])
except SystemExit as done:
    assert not done.code, done.code
assert "torch" not in sys.modules
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "on digits test split (360 samples): accuracy" in done.stdout


def test_the_command_line_without_its_extra_says_what_to_install():
    done = run_without_extras("import onebit.cli")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "onebit: the command line needs the cli extra (typer is not installed): "
        "pip install 'onebit[cli]' to run programs, 'onebit[train]' for everything"
    ]


def test_the_package_attributes_that_need_torch_fail_only_when_used():
    done = run_without_extras(
        """
        import onebit
        assert onebit.__version__ and onebit.OnebitError
        try:
            onebit.models
        except ModuleNotFoundError as error:
            print(error.name)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch"


def requirements_by_extra() -> dict[str, set[str]]:
    """The installed package's requirements (names only), by extra; "" is the base install."""
    from importlib.metadata import requires

    extras: dict[str, set[str]] = {}
    for requirement in requires("onebit") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        name = re.match(r"[A-Za-z0-9_.-]+", spec.strip())
        assert name is not None, requirement
        extras.setdefault(extra.group(1) if extra else "", set()).add(name.group(0).lower())
    return extras


def test_base_dependencies_are_the_runtimes_and_each_extra_contains_the_smaller_one():
    extras = requirements_by_extra()
    assert extras[""] == {"numpy", "safetensors"}
    assert {"typer", "rich", "threadpoolctl"} <= extras["cli"]
    assert "torch" not in extras["cli"]
    assert extras["cli"] | {"torch", "matplotlib"} == extras["train"]
    assert extras["train"] < extras["dev"]


def test_exporting_c_needs_only_the_runtime_install(saved_program):
    path, _, root = saved_program
    done = run_without_extras(
        f"""
        from onebit.export import to_c

        export = to_c({str(path)!r}, {str(root / "c")!r}, name="mlp")
        print(export.arena_bytes)
        for name in ("torch", "typer", "rich"):
            assert name not in sys.modules, name
        """
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0 and (root / "c" / "mlp.c").is_file()
