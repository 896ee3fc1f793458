// The interface every sgemm SIMD path implements; one .cpp per path, each compiled with its own
// target flags (see CMakeLists.txt) and chosen at run time by sgemm.h.
//
// Memory layout: a is (m, k), b is (k, n) and c is (m, n), all row-major float32 with no padding
// (leading dimensions k, n and n). A kernel call computes the rectangle [m0, m1) x [n0, n1) of
//   c[i, j] = sum_k a[i, k] * b[k, j]
// and writes it (c is output only; its old values are never read). Each c[i, j] is one float32
// chain in increasing k whichever tile computes it, so any split over threads gives the same bits
// on one path. The SIMD paths use fused multiply-add; the portable one does not on x86-64 (no
// target flags), so paths differ by float32 rounding only. (Where the portable kernel's target has
// FMA, as aarch64, the compiler may fuse in some loops and not others.)
//
// Rule for the per-path .cpp files (the same as bgemm_kernels.h): include only this header and
// intrinsics, keep every helper in an anonymous namespace, and use no std:: templates. A shared
// inline function or template compiled with -mavx512f in one file could be picked by the linker for
// every caller (ODR), and then run on a CPU that lacks the instructions.
#pragma once

#include <cstdint>

namespace onebit::kernels {

struct SgemmProblem {
  const float* a;  // (m, k)
  const float* b;  // (k, n)
  float* c;        // (m, n)
  std::int64_t m;
  std::int64_t n;
  std::int64_t k;  // >= 1
};

using SgemmKernel = void (*)(const SgemmProblem&, std::int64_t m0, std::int64_t m1,
                             std::int64_t n0, std::int64_t n1);

void sgemm_portable(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                    std::int64_t n1);

#if defined(ONEBIT_X86)
void sgemm_avx2(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1);

void sgemm_avx512(const SgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                  std::int64_t n1);
#endif

}  // namespace onebit::kernels
