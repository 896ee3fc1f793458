// The packed kernels without Python: every SIMD path this CPU runs, bit for bit against the
// portable path and against plain scalar references written here (from the +-1 values, not from
// the packed bits): bitpack (float32 and int8), bgemm (the dispatcher on 1 and 3 threads, and the
// path's kernel on a sub-rectangle) and bconv2d (kernels 1x1 and 3x3, strides 1 and 2, padding 0
// and 1, pad values 0 and +1, on 1 and 3 threads; and grouped and dilated ones). The Python tests compare the portable path with
// the NumPy reference, so NumPy == portable == every SIMD path.
//
// Built for the host and cross-built for aarch64, where it runs under qemu-user (CMakeLists.txt
// beside this file; tests/native/test_native_kernels.py runs both).
//
// Usage: kernels_test [SEED]. Prints the paths built, run and not runnable here, one line per
// kernel and path with its case count, then "kernel checks: N passed, M failed"; exits 1 on any
// mismatch (the first mismatches are printed with their shapes).
#include <cfloat>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "bconv2d/bconv2d.h"
#include "bgemm/bgemm.h"
#include "bitpack/bitpack.h"
#include "common/bit_format.h"
#include "common/cpu_features.h"

namespace {

using onebit::SimdPath;
using onebit::word_t;
using onebit::words_for;
using std::int64_t;

constexpr word_t kSentinelWord = 0xa5a5a5a5a5a5a5a5ULL;
constexpr std::int32_t kSentinel = -0x5a5a5a5a;
constexpr int kMaxReported = 12;

#if defined(__aarch64__)
constexpr const char* kArch = "aarch64";
#elif defined(__x86_64__)
constexpr const char* kArch = "x86_64";
#else
constexpr const char* kArch = "other";
#endif

// Passed and failed cases per kernel and path, in the order first seen.
class Results {
 public:
  void record(const std::string& kernel, SimdPath path, bool ok, const std::string& detail) {
    const std::string name = kernel + " " + onebit::simd_name(path);
    Row* row = nullptr;
    for (Row& r : rows_)
      if (r.name == name) row = &r;
    if (row == nullptr) row = &rows_.emplace_back(Row{name});
    if (ok) {
      ++row->passed;
      return;
    }
    ++row->failed;
    if (reported_++ < kMaxReported) std::printf("MISMATCH %s: %s\n", name.c_str(), detail.c_str());
  }

  // Prints the table and the closing line; returns the number of failed cases.
  int64_t print() const {
    int64_t passed = 0, failed = 0;
    for (const Row& r : rows_) {
      std::printf("  %-28s %5lld passed, %lld failed\n", r.name.c_str(),
                  static_cast<long long>(r.passed), static_cast<long long>(r.failed));
      passed += r.passed;
      failed += r.failed;
    }
    std::printf("kernel checks: %lld passed, %lld failed\n", static_cast<long long>(passed),
                static_cast<long long>(failed));
    return failed;
  }

 private:
  struct Row {
    std::string name;
    int64_t passed = 0, failed = 0;
  };
  std::vector<Row> rows_;
  int reported_ = 0;
};

std::string shape_text(std::initializer_list<int64_t> sizes) {
  std::string text;
  for (int64_t s : sizes) text += (text.empty() ? "" : "x") + std::to_string(s);
  return text;
}

// --- scalar references --------------------------------------------------------------------------

// The bit of a value, written out again as common/bit_format.h states it (the test's own oracle):
// 1 for -1 (x < 0 or NaN), 0 for +1 (x >= 0, -0.0 included).
bool is_minus(float x) { return !(x >= 0.0f); }
bool is_minus(std::int8_t x) { return x < 0; }

// Rows of `channels` values packed bit by bit: channel c is bit c % kWordBits of word
// c / kWordBits, padding 0.
template <typename T>
std::vector<word_t> reference_pack(const std::vector<T>& x, int64_t rows, int64_t channels) {
  const int64_t words = words_for(channels);
  std::vector<word_t> out(static_cast<std::size_t>(rows * words), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c)
      if (is_minus(x[r * channels + c]))
        out[r * words + c / onebit::kWordBits] |= word_t{1} << (c % onebit::kWordBits);
  return out;
}

// out[i, j] = sum_c a[i, c] * b[j, c] over +-1 values.
std::vector<std::int32_t> reference_gemm(const std::vector<std::int8_t>& a,
                                         const std::vector<std::int8_t>& b, int64_t m, int64_t n,
                                         int64_t k) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = 0;
      for (int64_t c = 0; c < k; ++c) sum += a[i * k + c] * b[j * k + c];
      out[i * n + j] = static_cast<std::int32_t>(sum);
    }
  return out;
}

// Cross-correlation of x (N, H, W, C) with w (Cout, K, K, C / groups) over +-1 values, NHWC out,
// with g's dilation and groups; a padded input value is `pad_value` (0 or +1).
std::vector<std::int32_t> reference_conv(const std::vector<std::int8_t>& x,
                                         const std::vector<std::int8_t>& w,
                                         const onebit::Conv2dGeometry& g, int pad_value) {
  const int64_t ho = g.ho(), wo = g.wo();
  std::vector<std::int32_t> out(static_cast<std::size_t>(g.n * ho * wo * g.cout));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow)
        for (int64_t co = 0; co < g.cout; ++co) {
          const int64_t group_cin = g.cin / g.groups, c0 = co / (g.cout / g.groups) * group_cin;
          int64_t sum = 0;
          for (int64_t i = 0; i < g.kh; ++i)
            for (int64_t j = 0; j < g.kw; ++j) {
              const int64_t ih = oh * g.sh - g.ph + i * g.dh, iw = ow * g.sw - g.pw + j * g.dw;
              const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
              for (int64_t c = 0; c < group_cin; ++c) {
                const int value =
                    inside ? x[((n * g.h + ih) * g.w + iw) * g.cin + c0 + c] : pad_value;
                sum += value * w[((co * g.kh + i) * g.kw + j) * group_cin + c];
              }
            }
          out[((n * ho + oh) * wo + ow) * g.cout + co] = static_cast<std::int32_t>(sum);
        }
  return out;
}

// --- inputs --------------------------------------------------------------------------------------

// Floats that exercise the sign convention: both zeros, NaN of either sign, infinities,
// subnormals, and ordinary values.
std::vector<float> random_floats(std::mt19937_64& rng, int64_t count) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.0f, -0.0f, nan, -nan, inf, -inf, 1e-40f, -1e-40f, FLT_MIN, -FLT_MIN};
  constexpr int kSpecials = sizeof(specials) / sizeof(specials[0]);
  std::uniform_int_distribution<int> pick(0, 3 * kSpecials);  // a quarter of the values special
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<std::size_t>(count));
  for (float& v : x) {
    const int p = pick(rng);
    v = p < kSpecials ? specials[p] : normal(rng);
  }
  return x;
}

std::vector<std::int8_t> random_int8(std::mt19937_64& rng, int64_t count) {
  std::uniform_int_distribution<int> value(-128, 127);
  std::vector<std::int8_t> x(static_cast<std::size_t>(count));
  for (std::int8_t& v : x) v = static_cast<std::int8_t>(value(rng));
  return x;
}

// +-1 values: random with P(-1) = p_minus (0 and 1 give constant rows).
std::vector<std::int8_t> random_signs(std::mt19937_64& rng, int64_t count, double p_minus) {
  std::bernoulli_distribution minus(p_minus);
  std::vector<std::int8_t> x(static_cast<std::size_t>(count));
  for (std::int8_t& v : x) v = minus(rng) ? -1 : 1;
  return x;
}

// --- checks --------------------------------------------------------------------------------------

template <typename T>
void check_bitpack(Results& results, const std::vector<SimdPath>& paths, const std::vector<T>& x,
                   int64_t rows, int64_t channels, const char* kernel) {
  const int64_t words = words_for(channels);
  const std::vector<word_t> expected = reference_pack(x, rows, channels);
  const std::string detail = std::string("rows x channels ") + shape_text({rows, channels});
  for (SimdPath path : paths) {
    std::vector<word_t> got(expected.size(), kSentinelWord);
    onebit::bitpack_rows(x.data(), 0, rows, channels, got.data(), path);
    results.record(kernel, path, got == expected, detail);
    if (rows < 3) continue;
    // Rows [1, rows - 1) only: the rows outside keep the sentinel.
    std::vector<word_t> part(expected.size(), kSentinelWord);
    onebit::bitpack_rows(x.data(), 1, rows - 1, channels, part.data(), path);
    bool ok = true;
    for (int64_t i = 0; i < rows * words; ++i) {
      const bool inside = i >= words && i < (rows - 1) * words;
      ok = ok && part[i] == (inside ? expected[i] : kSentinelWord);
    }
    results.record(kernel, path, ok, detail + ", rows 1 to " + std::to_string(rows - 1));
  }
}

void check_bgemm(Results& results, const std::vector<SimdPath>& paths, std::mt19937_64& rng,
                 int64_t m, int64_t n, int64_t k, double p_minus_a, double p_minus_b) {
  const std::vector<std::int8_t> a = random_signs(rng, m * k, p_minus_a);
  const std::vector<std::int8_t> b = random_signs(rng, n * k, p_minus_b);
  const std::vector<std::int32_t> expected = reference_gemm(a, b, m, n, k);
  const std::vector<word_t> pa = reference_pack(a, m, k), pb = reference_pack(b, n, k);
  const std::string detail = "m x n x k " + shape_text({m, n, k});
  std::vector<std::int32_t> portable;
  for (SimdPath path : paths) {
    for (int threads : {1, 3}) {
      std::vector<std::int32_t> got(expected.size(), kSentinel);
      onebit::bgemm({pa.data(), pb.data(), got.data(), m, n, words_for(k), k}, path, threads);
      if (path == SimdPath::portable && threads == 1) portable = got;
      results.record("bgemm", path, got == expected,
                     detail + ", " + std::to_string(threads) + " threads");
    }
    // The kernel alone on the rectangle [m0, m1) x [n0, n1): the rest keeps the sentinel.
    const int64_t m0 = m / 3, m1 = m - m / 4, n0 = n / 4, n1 = n - n / 3;
    std::vector<std::int32_t> part(expected.size(), kSentinel);
    onebit::bgemm_kernel(path)({pa.data(), pb.data(), part.data(), m, n, words_for(k), k}, m0, m1,
                               n0, n1);
    bool ok = true;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const bool inside = i >= m0 && i < m1 && j >= n0 && j < n1;
        ok = ok && part[i * n + j] == (inside ? expected[i * n + j] : kSentinel);
      }
    results.record("bgemm kernel", path, ok,
                   detail + ", rectangle " + shape_text({m0, m1, n0, n1}));
  }
  // The paths against the portable one directly (they all equal `expected` when they pass above;
  // this names the portable path as the baseline in the table).
  for (SimdPath path : paths) {
    if (path == SimdPath::portable) continue;
    std::vector<std::int32_t> got(expected.size(), kSentinel);
    onebit::bgemm({pa.data(), pb.data(), got.data(), m, n, words_for(k), k}, path, 1);
    results.record("bgemm == portable", path, got == portable, detail);
  }
}

struct ConvCase {
  int64_t n, h, w, cin, cout, kernel, stride, pad;
  bool zero_padding;
  int64_t dilation = 1, groups = 1;
};

void check_bconv2d(Results& results, const std::vector<SimdPath>& paths, std::mt19937_64& rng,
                   const ConvCase& c) {
  onebit::Conv2dGeometry g;
  g.n = c.n, g.h = c.h, g.w = c.w, g.cin = c.cin, g.words = words_for(c.cin);
  g.cout = c.cout, g.kh = c.kernel, g.kw = c.kernel;
  g.sh = c.stride, g.sw = c.stride, g.ph = c.pad, g.pw = c.pad;
  g.zero_padding = c.zero_padding;
  g.dh = c.dilation, g.dw = c.dilation, g.groups = c.groups;
  const int64_t group_cin = c.cin / c.groups;
  const std::vector<std::int8_t> x = random_signs(rng, c.n * c.h * c.w * c.cin, 0.5);
  const std::vector<std::int8_t> w =
      random_signs(rng, c.cout * c.kernel * c.kernel * group_cin, 0.5);
  const std::vector<std::int32_t> expected = reference_conv(x, w, g, c.zero_padding ? 0 : 1);
  const std::vector<word_t> px = reference_pack(x, c.n * c.h * c.w, c.cin);
  const std::vector<word_t> pw = reference_pack(w, c.cout * c.kernel * c.kernel, group_cin);
  const std::string detail = "NHWC " + shape_text({c.n, c.h, c.w, c.cin}) + " -> " +
                             std::to_string(c.cout) + ", kernel " + std::to_string(c.kernel) +
                             ", stride " + std::to_string(c.stride) + ", padding " +
                             std::to_string(c.pad) + " of " + (c.zero_padding ? "0" : "+1") +
                             ", dilation " + std::to_string(c.dilation) + ", groups " +
                             std::to_string(c.groups);
  std::vector<std::int32_t> portable;
  for (SimdPath path : paths) {
    for (int threads : {1, 3}) {
      std::vector<std::int32_t> got(expected.size(), kSentinel);
      onebit::bconv2d(px.data(), pw.data(), g, path, threads, onebit::Int32Output{got.data()});
      if (path == SimdPath::portable && threads == 1) portable = got;
      results.record("bconv2d", path, got == expected,
                     detail + ", " + std::to_string(threads) + " threads");
    }
  }
  for (SimdPath path : paths) {
    if (path == SimdPath::portable) continue;
    std::vector<std::int32_t> got(expected.size(), kSentinel);
    onebit::bconv2d(px.data(), pw.data(), g, path, 1, onebit::Int32Output{got.data()});
    results.record("bconv2d == portable", path, got == portable, detail);
  }
}

// The register-resident peak loop runs (no illegal instruction) and reports whole words of MACs.
void check_peak(Results& results, const std::vector<SimdPath>& paths) {
  constexpr int64_t kIters = 1000;
  for (SimdPath path : paths) {
    std::uint64_t sink = 0;
    const int64_t macs = onebit::peak_loop(path)(kIters, &sink);
    const bool ok = macs > 0 && macs % (kIters * onebit::kWordBits) == 0 && sink > 0;
    results.record("peak loop", path, ok,
                   "macs " + std::to_string(macs) + ", sink " + std::to_string(sink));
  }
}

std::string names(const std::vector<SimdPath>& paths) {
  std::string text;
  for (SimdPath path : paths)
    text += (text.empty() ? "" : ", ") + std::string(onebit::simd_name(path));
  return text.empty() ? "none" : text;
}

}  // namespace

int main(int argc, char** argv) {
  const unsigned long seed = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1;
  std::mt19937_64 rng(seed);
  std::vector<SimdPath> built(std::begin(onebit::kAllSimdPaths), std::end(onebit::kAllSimdPaths));
  const std::vector<SimdPath>& paths = onebit::simd_paths();
  std::vector<SimdPath> cannot;
  for (SimdPath path : built)
    if (!onebit::simd_supported(path)) cannot.push_back(path);
  std::printf("onebit native kernel test (%s, seed %lu)\n", kArch, seed);
  std::printf("paths built: %s\n", names(built).c_str());
  std::printf("paths run: %s\n", names(paths).c_str());
  std::printf("paths this CPU cannot run: %s\n", names(cannot).c_str());

  Results results;
  // bitpack: channel counts around the word and the 16-value vectors, rows 1 to 7.
  for (int64_t channels : {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 513}) {
    for (int64_t rows : {1, 3, 7}) {
      check_bitpack(results, paths, random_floats(rng, rows * channels), rows, channels,
                    "bitpack float32");
      check_bitpack(results, paths, random_int8(rng, rows * channels), rows, channels,
                    "bitpack int8");
    }
  }

  // bgemm: edges of the register tiles (1 row or column, m and n not multiples of any tile), k = 1,
  // k around words and vectors, constant rows (+-k: every byte count at its maximum), large k
  // over several K blocks, a product large enough to split over threads, then random shapes.
  struct GemmCase {
    int64_t m, n, k;
    double p_a, p_b;
  };
  std::vector<GemmCase> gemm_cases = {
      {1, 1, 1, 0.5, 0.5},      {1, 1, 64, 0.5, 0.5},     {1, 7, 65, 0.5, 0.5},
      {7, 1, 63, 0.5, 0.5},     {2, 3, 127, 0.5, 0.5},    {3, 4, 128, 0.5, 0.5},
      {4, 5, 129, 0.5, 0.5},    {5, 6, 130, 0.5, 0.5},    {7, 9, 200, 0.5, 0.5},
      {13, 11, 1000, 0.5, 0.5}, {6, 8, 4000, 1.0, 0.0},   {6, 8, 4000, 1.0, 1.0},
      {5, 7, 70001, 0.5, 0.5},  {3, 5, 35000, 1.0, 0.0},  {120, 90, 2560, 0.5, 0.5},
      {25, 1, 300, 0.3, 0.6},   {1, 25, 300, 0.6, 0.3},
      // A million channels (63 K blocks of 256 words) of rows that differ everywhere: every
      // partial sum of every stage at its maximum.
      {2, 3, 1000001, 1.0, 0.0},
  };
  std::uniform_int_distribution<int64_t> side(1, 40), depth(1, 1500);
  for (int i = 0; i < 60; ++i) gemm_cases.push_back({side(rng), side(rng), depth(rng), 0.5, 0.5});
  for (const GemmCase& c : gemm_cases)
    check_bgemm(results, paths, rng, c.m, c.n, c.k, c.p_a, c.p_b);

  // bconv2d: every combination of kernel, stride, padding and pad value, over channel counts
  // around the word (one 1x1 stride-1 unpadded case per pair is the direct, im2col-free path); the
  // 1x1 cases up to 8 words and the 3x3 ones over up to 64 channels (9 words, up to 168 outputs:
  // bconv2d.h's takes_short_k) take the AVX2 path's short-K kernel.
  std::uniform_int_distribution<int64_t> batch(1, 2), extent(0, 6);
  const int64_t channel_pairs[][2] = {{1, 1},    {3, 5},    {64, 64}, {65, 67},
                                      {130, 13}, {257, 33}, {449, 70}};
  for (const auto& pair : channel_pairs)
    for (int64_t kernel : {1, 3})
      for (int64_t stride : {1, 2})
        for (int64_t pad : {0, 1})
          for (bool zero_padding : {false, true}) {
            const int64_t smallest = kernel - 2 * pad > 1 ? kernel - 2 * pad : 1;
            const ConvCase c{batch(rng),          smallest + extent(rng), smallest + extent(rng),
                             pair[0],             pair[1],                kernel,
                             stride,              pad,                    zero_padding};
            check_bconv2d(results, paths, rng, c);
          }
  // grouped (channels per group around the word) and dilated convolutions
  const int64_t group_pairs[][3] = {{12, 1, 2}, {3, 7, 1}, {2, 65, 3}, {4, 64, 2}, {2, 33, 33}};
  for (const auto& group : group_pairs)
    for (int64_t dilation : {1, 2})
      for (int64_t stride : {1, 2})
        for (bool zero_padding : {false, true}) {
          const int64_t pad = dilation, smallest = 3 + 2 * (dilation - 1) - 2 * pad;
          const int64_t side = (smallest > 1 ? smallest : 1) + extent(rng);
          ConvCase c{batch(rng), side, side + 1, group[0] * group[1], group[0] * group[2],
                     3, stride, pad, zero_padding};
          c.dilation = dilation, c.groups = group[0];
          check_bconv2d(results, paths, rng, c);
        }

  check_peak(results, paths);
  std::printf("cases per kernel and path:\n");
  return results.print() == 0 ? 0 : 1;
}
