"""What the C library's and the Java binding's tests share: the library built with CMake for this
machine, and a converted model with the mnist5k test digits as IDX files and the Python runtime's
predictions for them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from helpers import cmake_build, settle, write_idx
from onebit import convert, models
from onebit.data import load
from onebit.runtime import load as load_program

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "clib"
TARGETS = ("onebit", "onebit_static", "onebit_classify", "onebit_api_test")
# The JSON headers: the system's (nlohmann-json3-dev) if CMake finds them, else this Python's.
CONFIGURE = ("-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}")


@pytest.fixture(scope="session")
def clib() -> SimpleNamespace:
    """Where the library's sources and builds are, and how it is configured (for this machine
    and, cross, for aarch64) and built."""
    toolchain = ROOT / "cmake" / "aarch64-linux-gnu.cmake"
    return SimpleNamespace(
        root=ROOT,
        build=BUILD,
        configure=CONFIGURE,
        aarch64_configure=(*CONFIGURE, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"),
        targets=TARGETS,
    )


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict:
    """A converted binarynet-mlp (batch norm settled, so its thresholds are not trivial) and
    the mnist5k test digits as IDX files, with the Python runtime's predictions for them."""
    work = tmp_path_factory.mktemp("clib")
    torch.manual_seed(0)
    model = settle(models.create("binarynet-mlp"), (1, 28, 28))
    model_path = work / "model.onebit"
    convert(model, torch.zeros(1, 1, 28, 28)).save(model_path)
    splits = load("mnist5k")
    pixels = np.rint(splits.x_test[:, 0] * 255).astype(np.uint8)
    assert np.array_equal(pixels.astype(np.float32) / np.float32(255), splits.x_test[:, 0])
    predicted = load_program(model_path).predict(splits.x_test)
    return {
        "model": model_path,
        "images": write_idx(work / "t10k-images-idx3-ubyte", pixels),
        "labels": write_idx(work / "t10k-labels-idx1-ubyte", splits.y_test.astype(np.uint8)),
        "predicted": predicted,
        "accuracy": float((predicted == splits.y_test).mean()),
    }


@pytest.fixture(scope="session")
def switched(tmp_path_factory) -> dict:
    """A converted Bit-Mixer MLP (three switches of 2, 3 or 4 bits), with the Python runtime's
    logits at widths 2, 3, 4 on the first input api_test.c builds."""
    work = tmp_path_factory.mktemp("clib-switched")
    torch.manual_seed(0)
    model = settle(models.create("bitmixer-mlp", hidden=32), (1, 28, 28))
    model_path = work / "bitmixer.onebit"
    convert(model, torch.zeros(1, 1, 28, 28), input_quantization=(1 / 255, 0)).save(model_path)
    x = (np.arange(784) * 37 % 255).astype(np.float32) / np.float32(255)
    logits = load_program(model_path)(x.reshape(1, 1, 28, 28), bits=(2, 3, 4))
    return {"model": model_path, "logits_234": logits[0]}


@pytest.fixture(scope="session")
def host_build() -> Path:
    """The C library, its example and checks (and the JNI library where a JDK is found)."""
    if shutil.which("cmake") is None:
        pytest.skip("the C library test needs cmake")
    return cmake_build(ROOT, BUILD / "host", *CONFIGURE)
