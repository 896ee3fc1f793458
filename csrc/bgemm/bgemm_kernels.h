// The interface every bgemm SIMD path implements; one .cpp per path, each compiled with its own
// target flags (see cmake/onebit_kernels.cmake) and chosen at run time by bgemm.h.
//
// Memory layout: a is (m, words) and b is (n, words) row-major packed rows (the convention of
// common/bit_format.h); out is (m, n) row-major int32. A kernel call computes the rectangle
// [m0, m1) x [n0, n1) of
//   out[i, j] = k - 2 * sum_w popcount(a[i, w] ^ b[j, w])
// over all `words` words, padding bits included (they are 0 in both operands for packed data).
//
// Rule for the per-path .cpp files: include only this header and intrinsics, keep every helper in
// an anonymous namespace, and use no std:: templates. A shared inline function or template compiled
// with -mavx512f in one file could be picked by the linker for every caller (ODR), and then run on
// a CPU that lacks the instructions. (The NEON path needs no target flags, ASIMD being part of the
// aarch64 base ISA, but bgemm_neon.cpp keeps the same rule.) Code the paths share goes in a header
// whose contents sit in an anonymous namespace, included by each (bgemm_blocking.h,
// bgemm_scalar.h).
#pragma once

#include <cstdint>

#include "common/bit_format.h"

namespace onebit::kernels {

struct BgemmProblem {
  const word_t* a;      // (m, words)
  const word_t* b;      // (n, words)
  std::int32_t* out;    // (m, n)
  std::int64_t m;
  std::int64_t n;
  std::int64_t words;
  std::int64_t k;       // true channel count, 0 < k <= kWordBits * words, k <= INT32_MAX
};

using BgemmKernel = void (*)(const BgemmProblem&, std::int64_t m0, std::int64_t m1,
                             std::int64_t n0, std::int64_t n1);
// Runs `iters` iterations of a register-resident xor+popcount+add loop (no memory traffic) and
// returns the bit-MACs it performed; *sink receives a value that depends on all of them.
using PeakLoop = std::int64_t (*)(std::int64_t iters, std::uint64_t* sink);

void bgemm_portable(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                    std::int64_t n1);
std::int64_t peak_portable(std::int64_t iters, std::uint64_t* sink);

#if defined(ONEBIT_X86)
void bgemm_popcnt(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                  std::int64_t n1);
std::int64_t peak_popcnt(std::int64_t iters, std::uint64_t* sink);

void bgemm_avx2(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1);
std::int64_t peak_avx2(std::int64_t iters, std::uint64_t* sink);

void bgemm_avx512_vpopcntdq(const BgemmProblem& p, std::int64_t m0, std::int64_t m1,
                            std::int64_t n0, std::int64_t n1);
std::int64_t peak_avx512_vpopcntdq(std::int64_t iters, std::uint64_t* sink);
#endif

#if defined(ONEBIT_NEON)
void bgemm_neon(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1);
std::int64_t peak_neon(std::int64_t iters, std::uint64_t* sink);
#endif

}  // namespace onebit::kernels
