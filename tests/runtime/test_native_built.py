"""The install builds the native kernels; the kernel tests' skip-if-missing must never be what
runs. If this fails, the extension did not build and the native comparisons were skipped."""

from __future__ import annotations


def test_the_native_extension_is_built_and_used_by_the_runtime():
    from onebit.runtime import _native, kernels

    assert _native.simd_paths()[-1] == "portable"
    assert kernels.BACKEND == "native", kernels.NATIVE
