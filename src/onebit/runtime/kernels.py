"""The packed kernels the runtime calls: the native extension's where it is built, else NumPy's.

The native module (``onebit._native``, C++ with run-time SIMD dispatch) and the references in
``reference.py`` take the same arguments in the same order and return the same arrays bit for bit
(``sgemm``: within float32 summation error), so which one runs changes speed, not results.
``BACKEND`` says which is in use.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from onebit.runtime import reference, reference_bitserial

try:
    from onebit.runtime import _native as _native_module
except ImportError:  # a build without the extension (e.g. no compiler at install time)
    _native_module = None

_NAMES = (
    "bitpack",
    "unpack",
    "bgemm",
    "bconv2d",
    "bconv2d_float",
    "bconv2d_bits",
    "output_float",
    "output_bits",
    "bmaxpool2d",
    "depthwise_conv2d",
    "float_chain",
    "float_im2col",
    "maxpool2d",
    "sgemm",
    "nchw_to_nhwc",
    "nhwc_to_nchw",
    "quantize_pack",
    "bitserial_gemm",
    "bitserial_conv2d",
)


def _reference(name: str) -> Callable[..., Any]:
    module = reference_bitserial if hasattr(reference_bitserial, name) else reference
    return getattr(module, name)


def _pick(name: str) -> Callable[..., Any]:
    native = getattr(_native_module, name, None) if _native_module is not None else None
    return native if native is not None else _reference(name)


bitpack = _pick("bitpack")
unpack = _pick("unpack")
bgemm = _pick("bgemm")
bconv2d = _pick("bconv2d")
bconv2d_float = _pick("bconv2d_float")
bconv2d_bits = _pick("bconv2d_bits")
output_float = _pick("output_float")
output_bits = _pick("output_bits")
bmaxpool2d = _pick("bmaxpool2d")
depthwise_conv2d = _pick("depthwise_conv2d")
float_chain = _pick("float_chain")
float_im2col = _pick("float_im2col")
maxpool2d = _pick("maxpool2d")
sgemm = _pick("sgemm")
nchw_to_nhwc = _pick("nchw_to_nhwc")
nhwc_to_nchw = _pick("nhwc_to_nchw")
quantize_pack = _pick("quantize_pack")
bitserial_gemm = _pick("bitserial_gemm")
bitserial_conv2d = _pick("bitserial_conv2d")

NATIVE = {name: _pick(name) is not _reference(name) for name in _NAMES}
BACKEND = "native" if all(NATIVE.values()) else "reference" if not any(NATIVE.values()) else "mixed"

_X86_PATHS = ("avx512_vpopcntdq", "avx2", "popcnt", "portable")
_ARM64_PATHS = ("neon", "portable")
BUILT_SIMD_PATHS = {
    "x86_64": _X86_PATHS,
    "amd64": _X86_PATHS,
    "aarch64": _ARM64_PATHS,
    "arm64": _ARM64_PATHS,
}.get(platform.machine().lower(), ("portable",))
"""The SIMD paths the extension is built with on this architecture (csrc/common/cpu_features.h)."""


def simd_paths() -> tuple[list[str], list[str]]:
    """The SIMD paths this CPU runs (best first) and the built ones it cannot run."""
    runs = list(_native_module.simd_paths()) if _native_module is not None else []
    return runs, [path for path in BUILT_SIMD_PATHS if path not in runs]
