// Run-time choice of the SIMD path for the packed kernels.
//
// Paths, best first. On x86 (ONEBIT_X86): "avx512_vpopcntdq" (AVX-512 F/BW/VL + VPOPCNTDQ), "avx2"
// (AVX2 + POPCNT), "popcnt" (scalar POPCNT), "portable". On aarch64 (ONEBIT_NEON): "neon" (Advanced
// SIMD, which ARMv8-A makes mandatory, so it is always supported there), "portable". Elsewhere
// only "portable" (plain C++, any CPU). The module is compiled without -march flags; each x86
// path's kernel sits in its own .cpp built with that path's flags, and nothing calls it unless the
// CPU reports the features here. cmake/onebit_kernels.cmake defines ONEBIT_X86 or ONEBIT_NEON and
// lists the path files of that architecture.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

namespace onebit {

#if defined(ONEBIT_NEON) && !defined(__aarch64__)
#error "ONEBIT_NEON is for aarch64 targets only"
#endif

enum class SimdPath { avx512_vpopcntdq, avx2, popcnt, neon, portable };

// The paths built into this binary, best first.
#if defined(ONEBIT_X86)
inline constexpr SimdPath kAllSimdPaths[] = {SimdPath::avx512_vpopcntdq, SimdPath::avx2,
                                             SimdPath::popcnt, SimdPath::portable};
#elif defined(ONEBIT_NEON)
inline constexpr SimdPath kAllSimdPaths[] = {SimdPath::neon, SimdPath::portable};
#else
inline constexpr SimdPath kAllSimdPaths[] = {SimdPath::portable};
#endif

inline const char* simd_name(SimdPath path) {
  switch (path) {
    case SimdPath::avx512_vpopcntdq: return "avx512_vpopcntdq";
    case SimdPath::avx2: return "avx2";
    case SimdPath::popcnt: return "popcnt";
    case SimdPath::neon: return "neon";
    case SimdPath::portable: return "portable";
  }
  return "portable";
}

// Whether this CPU (and OS: __builtin_cpu_supports checks the saved register state) runs `path`.
inline bool simd_supported(SimdPath path) {
#if defined(ONEBIT_X86)
  __builtin_cpu_init();
  const bool popcnt = __builtin_cpu_supports("popcnt");
  switch (path) {
    case SimdPath::avx512_vpopcntdq:
      return popcnt && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
    case SimdPath::avx2: return popcnt && __builtin_cpu_supports("avx2");
    case SimdPath::popcnt: return popcnt;
    case SimdPath::neon: return false;
    case SimdPath::portable: return true;
  }
  return false;
#elif defined(ONEBIT_NEON)
  return path == SimdPath::neon || path == SimdPath::portable;
#else
  return path == SimdPath::portable;
#endif
}

// The paths this CPU runs, best first (computed once).
inline const std::vector<SimdPath>& simd_paths() {
  static const std::vector<SimdPath> paths = [] {
    std::vector<SimdPath> found;
    for (SimdPath path : kAllSimdPaths)
      if (simd_supported(path)) found.push_back(path);
    return found;
  }();
  return paths;
}

// The process-wide path a kernel call takes when none is named: the best this CPU runs, unless
// set_default_simd_path chose another (to measure or test a slower path on a faster CPU).
inline std::atomic<int>& chosen_simd_path() {
  static std::atomic<int> chosen{-1};  // -1: the best path
  return chosen;
}

inline SimdPath default_simd_path() {
  const int chosen = chosen_simd_path().load(std::memory_order_relaxed);
  return chosen < 0 ? simd_paths().front() : static_cast<SimdPath>(chosen);
}

// Makes `path` (one this CPU runs: the caller checks with simd_supported) the default.
inline void set_default_simd_path(SimdPath path) {
  chosen_simd_path().store(static_cast<int>(path), std::memory_order_relaxed);
}

inline void reset_default_simd_path() { chosen_simd_path().store(-1, std::memory_order_relaxed); }

// The path named `name` if this CPU runs it; false otherwise (unknown or unavailable).
// Whether `path` runs the AVX2 kernels of the float and transform code (the avx2 path, and the
// AVX-512 one, whose CPUs all have AVX2).
inline bool has_avx2_kernels(SimdPath path) {
#if defined(ONEBIT_X86)
  return path == SimdPath::avx2 || path == SimdPath::avx512_vpopcntdq;
#else
  (void)path;
  return false;
#endif
}

inline bool simd_from_name(std::string_view name, SimdPath* path) {
  for (SimdPath candidate : simd_paths()) {
    if (name == simd_name(candidate)) {
      *path = candidate;
      return true;
    }
  }
  return false;
}

inline std::string simd_paths_text() {
  std::string text;
  for (SimdPath path : simd_paths()) {
    if (!text.empty()) text += ", ";
    text += simd_name(path);
  }
  return text;
}

}  // namespace onebit
