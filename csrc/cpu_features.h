// Run-time choice of the SIMD path for the packed kernels.
//
// Paths, best first: "avx512_vpopcntdq" (AVX-512 F/BW/VL + VPOPCNTDQ), "avx2" (AVX2 + POPCNT),
// "popcnt" (scalar POPCNT), "portable" (plain C++, any CPU; the only path off x86). The module is
// compiled without -march flags; each path's kernel sits in its own .cpp built with that path's
// flags, and nothing calls it unless the CPU reports the features here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace onebit {

enum class SimdPath { avx512_vpopcntdq, avx2, popcnt, portable };

inline constexpr SimdPath kAllSimdPaths[] = {SimdPath::avx512_vpopcntdq, SimdPath::avx2,
                                             SimdPath::popcnt, SimdPath::portable};

inline const char* simd_name(SimdPath path) {
  switch (path) {
    case SimdPath::avx512_vpopcntdq: return "avx512_vpopcntdq";
    case SimdPath::avx2: return "avx2";
    case SimdPath::popcnt: return "popcnt";
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
    case SimdPath::portable: return true;
  }
  return false;
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

inline SimdPath default_simd_path() { return simd_paths().front(); }

// The path named `name` if this CPU runs it; false otherwise (unknown or unavailable).
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
