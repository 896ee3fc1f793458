"""Build a generated C model for this machine and run it: how the exported C is checked against
the runtime (the tests) and how its accuracy is measured on a whole test split (the experiments).

``host_harness.c`` reads inputs from standard input (floats, or bytes for ``<name>_run_u8``) and
writes each output's floats to standard output.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from onebit.export.c_model import CExport
from onebit.export.c_ops import ExportError

STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2")


def build_host(
    model: CExport, out_dir: Path, compiler: str = "cc", extra_flags: tuple[str, ...] = ()
) -> Path:
    """The model and ``host_harness.c`` compiled by ``compiler`` at :data:`STRICT_FLAGS` and
    ``extra_flags`` (e.g. ``-mpopcnt``, ``-DONEBIT_SLOW_MULTIPLY``: the kernels' other paths)."""
    if shutil.which(compiler) is None:
        raise ExportError(f"{compiler} is not installed")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / f"{model.name}-{Path(compiler).name}{''.join(extra_flags)}"
    harness = Path(str(resources.files("onebit.export").joinpath("host_harness.c")))
    result = subprocess.run(
        [
            compiler,
            *STRICT_FLAGS,
            *extra_flags,
            f"-I{model.source.parent}",
            f'-DOB_HEADER="{model.header.name}"',
            f"-DOB_RUN={model.name}_run",
            f"-DOB_RUN_U8={model.name}_run_u8",
            f"-DOB_PREFIX={model.name.upper()}",
            str(model.source),
            str(harness),
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ExportError(f"{compiler} failed on {model.source}: {result.stderr.strip()[-2000:]}")
    return binary


def run_host(binary: Path, inputs: np.ndarray, outputs: int, u8: bool = False) -> np.ndarray:
    """The outputs ``(N, outputs)`` of a host build on ``inputs`` (floats, or bytes with u8)."""
    data = np.ascontiguousarray(inputs, dtype=np.uint8 if u8 else np.float32)
    result = subprocess.run(
        [str(binary), *(["u8"] if u8 else [])], input=data.tobytes(), capture_output=True
    )
    if result.returncode != 0:
        raise ExportError(f"{binary} exited with {result.returncode}")
    return np.frombuffer(result.stdout, np.float32).reshape(len(data), outputs)
