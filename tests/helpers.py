"""Helpers the tests share: torch on one thread, a model settled into a non-trivial eval state,
the reference sign and seeded parameters of a layer, the native kernels parametrized over
every SIMD path and thread count, and running commands and CMake builds for the native tests.

Import them as ``from helpers import ...``: pyproject.toml puts ``tests/`` on the path.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import shutil
import struct
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import strategies as st
from torch import nn

from onebit.nn import LearnableBias, QuantConv2d, QuantLinear
from onebit.runtime.bit_format import words_for


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on a single thread: small test batches gain nothing from a second one, lose much
    to thread synchronization on a busy two-core machine (torch's depthwise and float64 convs slow
    to seconds), and one thread gives the same numbers everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def settle(
    model: nn.Module,
    shape: tuple[int, ...],
    seed: int = 0,
    batches: int = 3,
    batch_size: int = 16,
    vocab_size: int | None = None,
) -> nn.Module:
    """Random batch norm scales (some negative) and shifts where a norm has them, random learnable
    biases and PReLU slopes, batch norm statistics from ``batches`` random batches, then eval
    mode: a model whose converted thresholds are not the trivial ones of a fresh network.

    Args:
        model: the model, changed in place and returned.
        shape: the shape of one input.
        seed: seeds every random number drawn here.
        batches: forward passes in train mode that set the batch norm statistics.
        batch_size: inputs per pass.
        vocab_size: for a model of token ids, the ids drawn are below it (else normal floats).
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = 0.5
                if module.affine:
                    module.weight.copy_(torch.randn(module.num_features, generator=generator))
                    module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.5)
            elif isinstance(module, LearnableBias):
                module.bias.copy_(torch.randn(module.num_channels, generator=generator) * 0.5)
            elif isinstance(module, nn.PReLU):
                module.weight.uniform_(-0.5, 0.5, generator=generator)
    model.train()
    with torch.no_grad(), one_thread():
        for _ in range(batches):
            if vocab_size is None:
                model(torch.randn(batch_size, *shape, generator=generator))
            else:
                model(torch.randint(0, vocab_size, (batch_size, *shape), generator=generator))
    return model.eval()


def sign(x: torch.Tensor) -> torch.Tensor:
    """The reference sign, sign(0) = +1."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def randomize_(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Fill every parameter from ``gen`` (layer init draws from the global generator)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


try:
    from onebit.runtime import _native as native  # honours ONEBIT_NATIVE_PATH (make test-sanitize)
except ImportError:  # the extension is not built; test_native_built.py fails loudly then
    native = None

NATIVE_MISSING = pytest.mark.skipif(native is None, reason="onebit._native is not built")
SIMD_PATHS = list(native.simd_paths()) if native is not None else []


def native_params(*names: str, threads: Sequence[int] = (1, 2, 3)) -> list:
    """One ``pytest.param`` per (SIMD path, thread count) holding the native kernels ``names``
    with that path and count fixed; a skipped one where the extension is not built."""
    if native is None:
        return [pytest.param(*(None for _ in names), id="native", marks=NATIVE_MISSING)]
    return [
        pytest.param(
            *(functools.partial(getattr(native, n), threads=count, simd=simd) for n in names),
            id=f"{simd}-t{count}",
        )
        for simd in SIMD_PATHS
        for count in threads
    ]


class ConvCase(NamedTuple):
    """A binary convolution's shapes: batch, channels in and out, input side, kernel, stride,
    padding and pad value (1.0: one-padding, 0.0: zero padding); its test id names them all."""

    n: int
    cin: int
    cout: int
    h: int
    w: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    pad_value: float = 1.0

    def __str__(self) -> str:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return (
            f"n{self.n}-c{self.cin}to{self.cout}-{self.h}x{self.w}-k{kh}x{kw}-s{sh}{sw}-p{ph}{pw}"
            f"-{'one' if self.pad_value == 1.0 else 'zero'}-{self.patch_words()}words"
        )

    def geometry(self) -> tuple:
        """(stride, padding, pad_value), as the kernels take them after the channel count."""
        return self.stride, self.padding, self.pad_value

    def patch_words(self) -> int:
        return self.kernel[0] * self.kernel[1] * words_for(self.cin)

    def fits(self) -> bool:
        """Whether the padded input holds at least one window."""
        return (
            self.h + 2 * self.padding[0] >= self.kernel[0]
            and self.w + 2 * self.padding[1] >= self.kernel[1]
        )


def conv_cases(
    max_n: int, max_cin: int, max_cout: int, max_kernel: int, max_side: int, max_stride: int
) -> st.SearchStrategy[ConvCase]:
    """Random ConvCases that fit: kernels up to ``max_kernel`` a side, padding up to the kernel,
    sides up to ``max_side``, each pad value."""

    @st.composite
    def draw_case(draw) -> ConvCase:
        kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
        ph, pw = draw(st.integers(0, kh)), draw(st.integers(0, kw))
        return ConvCase(
            n=draw(st.integers(1, max_n)),
            cin=draw(st.integers(1, max_cin)),
            cout=draw(st.integers(1, max_cout)),
            h=draw(st.integers(max(1, kh - 2 * ph), max_side)),
            w=draw(st.integers(max(1, kw - 2 * pw), max_side)),
            kernel=(kh, kw),
            stride=(draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))),
            padding=(ph, pw),
            pad_value=draw(st.sampled_from([1.0, 0.0])),
        )

    return draw_case()


def run_command(command: Sequence[str], timeout: float) -> str:
    """stdout of ``command``; a failure names the command with the end of its output."""
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"{' '.join(map(str, command))} exited {done.returncode}:\n{output[-6000:]}"
    )
    return done.stdout


def cmake_build(source: Path, build: Path, *args: str, targets: Sequence[str] = ()) -> Path:
    """Configures ``source`` into ``build`` (with ``args``) and builds ``targets`` (all if none)
    on 2 jobs; returns ``build``."""
    run_command(["cmake", "-S", source, "-B", build, *args], 180)
    chosen = [arg for target in targets for arg in ("--target", target)]
    run_command(["cmake", "--build", build, "-j", "2", *chosen], 900)
    return build


def require_tools(result: Path, tools: tuple[str, ...], what: str, packages: str) -> None:
    """Skips the test, saying so in its ``result`` file (which .ci/run reads), unless every one
    of ``tools`` is on the PATH; else clears the file for the test to write "passed"."""
    result.unlink(missing_ok=True)
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        reason = f"{what} needs {', '.join(missing)} (apt-get install {packages})"
        result.parent.mkdir(parents=True, exist_ok=True)
        result.write_text(f"skipped: {reason}\n")
        pytest.skip(reason)


IDX_TYPE_CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if asked) and return the path."""
    header = bytes([0, 0, IDX_TYPE_CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


class SmallConvBNN(nn.Module):
    """Float stem, binary convs with one- and zero-padding, stride 2, max-pool, a residual
    shortcut around a binary conv (Bi-Real style), global average pool and a binary classifier."""

    def __init__(self, channels: int = 40, num_classes: int = 10) -> None:
        super().__init__()
        binary = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
        self.stem = nn.Conv2d(1, channels, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(channels)
        self.conv1 = QuantConv2d(channels, channels, 3, padding=1, pad_value=1.0, **binary)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = QuantConv2d(channels, 70, 3, stride=2, padding=1, pad_value=0.0, **binary)
        self.bn2 = nn.BatchNorm2d(70)
        self.conv3 = QuantConv2d(70, 70, 1, **binary)
        self.bn3 = nn.BatchNorm2d(70)
        self.flatten = nn.Flatten()
        self.fc = QuantLinear(70 * 4 * 4, num_classes, **binary)
        self.fc_bn = nn.BatchNorm1d(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_bn(self.stem(x))
        x = self.bn1(self.conv1(x)) + x  # residual: float shortcut around a binary conv
        x = self.pool(x)
        x = self.bn2(self.conv2(x))
        x = self.bn3(self.conv3(x))
        return self.fc_bn(self.fc(self.flatten(x)))


def dyadic(x: torch.Tensor, step: float) -> torch.Tensor:
    """x rounded to multiples of step, a power of two: products and sums stay exact."""
    return torch.round(x / step) * step


def dyadic_conv_bnn(seed: int, count: int) -> tuple:
    """The settled SmallConvBNN (float stem, binary convs with both paddings and stride 2,
    max-pool, residual, binary classifier) converted, with its stem weights and ``count`` random
    inputs on dyadic grids: every float sum is exact, so any summation order gives the same
    bits and the C output must equal the runtime's bit for bit."""
    torch.manual_seed(seed)
    model = settle(SmallConvBNN(), (1, 16, 16), seed)
    with torch.no_grad():
        model.stem.weight.copy_(dyadic(model.stem.weight, 1 / 64))
    from onebit.convert import convert

    program = convert(model, torch.zeros(1, 1, 16, 16))
    generator = torch.Generator().manual_seed(seed)
    x = dyadic(torch.randn(count, 1, 16, 16, generator=generator), 1 / 16).numpy()
    return program, np.ascontiguousarray(x, dtype=np.float32)


def trained_mnist_mlp(hidden: int = 256, epochs: int = 2, seed: int = 1):
    """binarynet-mlp trained on mnist5k (a short run: enough for real, non-trivial weights),
    and the data splits it trained on."""
    from onebit.data import load
    from onebit.train import TrainConfig, fit

    data = load("mnist5k")
    config = TrainConfig(
        model="binarynet-mlp",
        data="mnist5k",
        model_kwargs={"hidden": hidden},
        epochs=epochs,
        seed=seed,
        device="cpu",
        progress=False,
    )
    return fit(config, data).model, data
