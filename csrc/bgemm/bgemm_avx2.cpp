// bgemm, AVX2 path (compiled with -mavx2 -mpopcnt), for x86 CPUs without AVX-512 VPOPCNTDQ.
//
// AVX2 has no vector popcount. Bytes are counted with two 16-entry vpshufb lookups (low and high
// nibble), and whole vectors are first reduced with carry-save adders (Harley-Seal): each group of
// 4 xor results passes through 3 adders into `ones`, `twos` and one "fours" vector, and only that
// vector is looked up, into byte counters summed with vpsadbw every 28 groups (Mula, Kurz and
// Lemire, "Faster Population Counts Using AVX2 Instructions", 2018). That is about 6 vector ops
// per 256 bits where the lookup alone needs 9.
//
// Two register tiles:
// - Channel-vectorized (used when a call has at least kChannelRows rows of a, and by bconv2d):
//   a 256-bit vector holds the same K word of 4 rows of b (output channels), packed into a
//   (words, 8) panel; a word of a is broadcast to all 4 lanes. K needs no tail handling, the
//   accumulators no horizontal sum, and 4 results leave in one store. Tile: 1 row of a x 2 vectors
//   (8 channels); 3 carry-save vectors each + the lookup constants fit the 16 ymm registers.
//   Short K (a 3x3 convolution over 64 or 128 channels: 9 or 18 words) skips the carry-save
//   adders and looks up nibbles split in advance (split_lookup_tile, 16 channels per panel).
//   Blocking: K blocks of kPanelKcWords (the panel stays in L1), row blocks of kRowBlockBytes
//   (they stay in L2 while the panels of every channel block pass over them).
// - K-vectorized (small m, e.g. a dense layer at batch 1): a vector holds 4 words of one row, read
//   in place with a masked load at the K tail; 2 rows of a x 3 rows of b, each counted with the
//   lookup and summed with vpsadbw per vector (a panel would cost as much as the product here).
//   Cache blocking: bgemm_blocking.h.
#include <immintrin.h>

#include "bgemm/bgemm_blocking.h"

namespace onebit::kernels {
namespace {

constexpr int kVecWords = 4;
constexpr std::int64_t kL2Bytes = 256 * 1024;

struct Lookup {
  __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2,
                                 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  __m256i low = _mm256_set1_epi8(0x0f);
  // Popcount of each byte of x.
  __m256i bytes(__m256i x) const {
    const __m256i lo = _mm256_and_si256(x, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
  }
  // Popcount of each 64-bit lane of x.
  __m256i lanes(__m256i x) const { return _mm256_sad_epu8(bytes(x), _mm256_setzero_si256()); }
};

// Sum of each 64-bit lane's 8 bytes.
inline __m256i sum_bytes(__m256i b) { return _mm256_sad_epu8(b, _mm256_setzero_si256()); }

// Carry-save adder: per bit, a + b + c = 2 * high + low.
inline void carry_save(__m256i& high, __m256i& low, __m256i a, __m256i b, __m256i c) {
  const __m256i u = _mm256_xor_si256(a, b);
  high = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
  low = _mm256_xor_si256(u, c);
}

inline __m256i load(const word_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

inline __m256i broadcast(const word_t* p) { return _mm256_set1_epi64x(static_cast<long long>(*p)); }

// Sum of the 4 lanes, wrapping (the peak loop's sink folds arbitrary bits).
inline std::int64_t hsum(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(_mm_cvtsi128_si64(s)) +
                                   static_cast<std::uint64_t>(_mm_extract_epi64(s, 1)));
}

// ---- K-vectorized tile -------------------------------------------------------------------------

constexpr int kMr = 2;
constexpr int kNr = 3;
constexpr std::int64_t kKcWords = 256;

template <int MR, int NR>
void tile(const BgemmProblem& p, std::int64_t i0, std::int64_t j0, std::int64_t w0,
          std::int64_t w1, bool first, bool last) {
  const Lookup count;
  __m256i acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_si256();
  const word_t* ar[MR];
  const word_t* br[NR];
  for (int i = 0; i < MR; ++i) ar[i] = p.a + (i0 + i) * p.words + w0;
  for (int j = 0; j < NR; ++j) br[j] = p.b + (j0 + j) * p.words + w0;
  const std::int64_t len = w1 - w0;
  const std::int64_t full = len / kVecWords * kVecWords;
  for (std::int64_t w = 0; w < full; w += kVecWords) {
    __m256i av[MR];
    for (int i = 0; i < MR; ++i) av[i] = load(ar[i] + w);
    for (int j = 0; j < NR; ++j) {
      const __m256i bv = load(br[j] + w);
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_add_epi64(acc[i][j], count.lanes(_mm256_xor_si256(av[i], bv)));
    }
  }
  if (full < len) {
    const std::int64_t rem = len - full;
    const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(rem), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i av[MR];
    for (int i = 0; i < MR; ++i)
      av[i] = _mm256_maskload_epi64(reinterpret_cast<const long long*>(ar[i] + full), mask);
    for (int j = 0; j < NR; ++j) {
      const __m256i bv =
          _mm256_maskload_epi64(reinterpret_cast<const long long*>(br[j] + full), mask);
      for (int i = 0; i < MR; ++i)
        acc[i][j] = _mm256_add_epi64(acc[i][j], count.lanes(_mm256_xor_si256(av[i], bv)));
    }
  }
  for (int i = 0; i < MR; ++i) {
    std::int32_t* o = p.out + (i0 + i) * p.n + j0;
    for (int j = 0; j < NR; ++j) store_sum(p, o + j, hsum(acc[i][j]), first, last);
  }
}

// ---- Channel-vectorized tile -------------------------------------------------------------------

constexpr int kLanes = 4;                   // channels per vector
constexpr int kChannelVectors = 2;          // vectors per tile
constexpr std::int64_t kChannelBlock = kLanes * kChannelVectors;
constexpr int kGroupWords = 4;              // K words per carry-save step
// Byte counters hold 31 lookups of <= 8: flushed every 28 groups, so that the <= 3 tail words
// after the last flush still fit.
constexpr int kFlushGroups = 28;
constexpr std::int64_t kCarrySaveWords = 20;  // shorter K: split_lookup_tile
constexpr std::int64_t kChannelRows = 4;    // fewer rows of a: the K-vectorized tile
constexpr std::int64_t kPanelKcWords = 256;  // K block of a panel: 16 KiB, in L1
constexpr std::int64_t kRowBlockBytes = 128 * 1024;  // rows of a per block: 128 KiB, in L2

// Where a channel tile's results go: out[c] for the tile's channels c < c_end, with the partial
// sums of earlier K blocks already there unless `first`, and k - 2 * total written when `last`.
struct ChannelOut {
  std::int32_t* out;
  std::int64_t c_end;
  std::int64_t k;
  bool first;
  bool last;
};

// Writes the popcount totals of vector j (4 channels) of a tile as ChannelOut says. Loads and
// stores are masked only where the tile ends: a masked store is many times slower than a plain
// one on AMD's Zen cores (about half of a 1x1 convolution's time on Zen 3 went to them).
inline void store_channels(__m256i sum, const ChannelOut& o, int j) {
  const std::int64_t left = o.c_end - j * kLanes;
  const bool whole = left >= kLanes;
  const __m128i mask = _mm_cmpgt_epi32(_mm_set1_epi32(static_cast<int>(whole ? kLanes : left)),
                                       _mm_setr_epi32(0, 1, 2, 3));
  std::int32_t* dst = o.out + j * kLanes;
  __m128i* dst_vector = reinterpret_cast<__m128i*>(dst);
  if (!o.first) {
    const __m128i before = whole ? _mm_loadu_si128(dst_vector) : _mm_maskload_epi32(dst, mask);
    sum = _mm256_add_epi64(sum, _mm256_cvtepi32_epi64(before));
  }
  if (o.last) sum = _mm256_sub_epi64(_mm256_set1_epi64x(o.k), _mm256_add_epi64(sum, sum));
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m128i result = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(sum, even));
  if (whole) {
    _mm_storeu_si128(dst_vector, result);
  } else {
    _mm_maskstore_epi32(dst, mask, result);
  }
}

// One row of a (`words` words) against the panel's channels [0, NV * kLanes) (panel row w holds
// K word w of each channel).
template <int NV>
void channel_tile(const word_t* a, std::int64_t words, const word_t* panel, const ChannelOut& o) {
  constexpr std::int64_t ldp = kChannelBlock;
  const Lookup look;
  __m256i ones[NV], twos[NV], fours[NV], total[NV];
  for (int j = 0; j < NV; ++j) ones[j] = twos[j] = fours[j] = total[j] = _mm256_setzero_si256();
  const std::int64_t grouped = words / kGroupWords * kGroupWords;
  int pending = 0;
  for (std::int64_t w = 0; w < grouped; w += kGroupWords) {
    const __m256i a0 = broadcast(a + w), a1 = broadcast(a + w + 1);
    const __m256i a2 = broadcast(a + w + 2), a3 = broadcast(a + w + 3);
    for (int j = 0; j < NV; ++j) {
      const word_t* b = panel + w * ldp + j * kLanes;
      __m256i twos_a, twos_b, four;
      carry_save(twos_a, ones[j], ones[j], _mm256_xor_si256(a0, load(b)),
                 _mm256_xor_si256(a1, load(b + ldp)));
      carry_save(twos_b, ones[j], ones[j], _mm256_xor_si256(a2, load(b + 2 * ldp)),
                 _mm256_xor_si256(a3, load(b + 3 * ldp)));
      carry_save(four, twos[j], twos[j], twos_a, twos_b);
      fours[j] = _mm256_add_epi8(fours[j], look.bytes(four));
    }
    if (++pending == kFlushGroups) {
      pending = 0;
      for (int j = 0; j < NV; ++j) {
        total[j] = _mm256_add_epi64(total[j], _mm256_slli_epi64(sum_bytes(fours[j]), 2));
        fours[j] = _mm256_setzero_si256();
      }
    }
  }
  for (std::int64_t w = grouped; w < words; ++w) {  // at most 3 words: half adders
    const __m256i av = broadcast(a + w);
    for (int j = 0; j < NV; ++j) {
      const __m256i d = _mm256_xor_si256(av, load(panel + w * ldp + j * kLanes));
      const __m256i carry = _mm256_and_si256(ones[j], d);
      ones[j] = _mm256_xor_si256(ones[j], d);
      const __m256i four = _mm256_and_si256(twos[j], carry);
      twos[j] = _mm256_xor_si256(twos[j], carry);
      fours[j] = _mm256_add_epi8(fours[j], look.bytes(four));
    }
  }
  for (int j = 0; j < NV; ++j) {
    // popcount = 4 * fours + 2 * twos + ones; a byte of 2 * twos + ones is at most 24.
    const __m256i twos_bytes = look.bytes(twos[j]);
    const __m256i low_bytes =
        _mm256_add_epi8(look.bytes(ones[j]), _mm256_add_epi8(twos_bytes, twos_bytes));
    store_channels(_mm256_add_epi64(_mm256_add_epi64(total[j], sum_bytes(low_bytes)),
                                    _mm256_slli_epi64(sum_bytes(fours[j]), 2)),
                   o, j);
  }
}

// A channel tile: one row of a (`words` words) against a packed panel, results as o says.
using ChannelTile = void (*)(const word_t* a, std::int64_t words, const word_t* panel,
                             const ChannelOut& o);

// Rows [0, m) of a (row stride lda words, `words` of them from the panel's K block) through Tile;
// row i's results go to o.out + i * ldo.
template <ChannelTile Tile>
void each_row(const word_t* a, std::int64_t m, std::int64_t lda, std::int64_t words,
              const word_t* panel, std::int64_t ldo, ChannelOut o) {
  std::int32_t* const base = o.out;
  for (std::int64_t i = 0; i < m; ++i) {
    o.out = base + i * ldo;
    Tile(a + i * lda, words, panel, o);
  }
}

// Packs words [w0, w1) of the rows [c0, c0 + c_end) of b (row stride ldb) into a (w1 - w0,
// kChannelBlock) panel; the channels past c_end up to a whole vector are zero.
void pack_panel(const word_t* b, std::int64_t ldb, std::int64_t c0, std::int64_t c_end,
                std::int64_t w0, std::int64_t w1, word_t* panel) {
  const std::int64_t c_pad = (c_end + kLanes - 1) / kLanes * kLanes;
  for (std::int64_t c = 0; c < c_pad; ++c) {
    const word_t* row = b + (c0 + c) * ldb;
    for (std::int64_t w = w0; w < w1; ++w)
      panel[(w - w0) * kChannelBlock + c] = c < c_end ? row[w] : 0;
  }
}

// ---- Short K: split-nibble lookup tile ---------------------------------------------------------
//
// Below kCarrySaveWords words the carry-save vectors cost more to count at the end than they save,
// so every xor result is looked up, into byte counters (at most 8 per word: 19 words fit a byte).
// The lookup works on nibbles, and (a ^ b) & m = (a & m) ^ (b & m): the panel holds each weight
// word already split into its low nibbles and its high nibbles (shifted down), a word of a is split
// once for all the tile's vectors, and a vector then costs 2 xor, 2 vpshufb and 2 adds (6 ops, not
// 8). Tile: 1 row of a x 4 vectors (16 channels).

constexpr int kSplitVectors = 4;
constexpr std::int64_t kSplitBlock = kLanes * kSplitVectors;  // channels per panel
constexpr std::int64_t kSplitRowWords = 2 * kSplitBlock;      // panel words per K word
constexpr word_t kLowNibbles = 0x0f0f0f0f0f0f0f0fULL;

// Packs words [w0, w1) of the rows [c0, c0 + c_end) of b into a (w1 - w0, 2 * kSplitBlock) panel:
// row w holds the low nibbles of K word w of the channels 0..15, then their high nibbles; the
// channels past c_end are zero.
void pack_split_panel(const word_t* b, std::int64_t ldb, std::int64_t c0, std::int64_t c_end,
                      std::int64_t w0, std::int64_t w1, word_t* panel) {
  for (std::int64_t c = 0; c < kSplitBlock; ++c) {
    const word_t* row = b + (c0 + c) * ldb;
    for (std::int64_t w = w0; w < w1; ++w) {
      const word_t v = c < c_end ? row[w] : 0;
      panel[(w - w0) * kSplitRowWords + c] = v & kLowNibbles;
      panel[(w - w0) * kSplitRowWords + kSplitBlock + c] = (v >> 4) & kLowNibbles;
    }
  }
}

template <int NV>
void split_lookup_tile(const word_t* a, std::int64_t words, const word_t* panel,
                       const ChannelOut& o) {
  const Lookup look;
  __m256i counts[NV];
  for (int j = 0; j < NV; ++j) counts[j] = _mm256_setzero_si256();
  for (std::int64_t w = 0; w < words; ++w) {
    const __m256i av = broadcast(a + w);
    const __m256i lo = _mm256_and_si256(av, look.low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(av, 4), look.low);
    const word_t* row = panel + w * kSplitRowWords;
    for (int j = 0; j < NV; ++j) {
      const __m256i low_count = _mm256_shuffle_epi8(look.lut, _mm256_xor_si256(lo, load(row + j * kLanes)));
      const __m256i high_count =
          _mm256_shuffle_epi8(look.lut, _mm256_xor_si256(hi, load(row + kSplitBlock + j * kLanes)));
      counts[j] = _mm256_add_epi8(counts[j], _mm256_add_epi8(low_count, high_count));
    }
  }
  for (int j = 0; j < NV; ++j) store_channels(sum_bytes(counts[j]), o, j);
}

// ---- Channel-vectorized driver -----------------------------------------------------------------

// Rows [0, m) of a (row stride lda) times the rows [c0, c1) of b (row stride ldb) over the K words
// [w0, w1): a panel per channel block, then the tile for that K length. out: row 0, column 0 of
// the result, row stride ldo; first / last: as ChannelOut. panel: at least
// max(kPanelKcWords * kChannelBlock, (kCarrySaveWords - 1) * kSplitRowWords) words.
void channel_blocks(const word_t* a, std::int64_t m, std::int64_t lda, std::int64_t w0,
                    std::int64_t w1, const word_t* b, std::int64_t ldb, std::int64_t c0,
                    std::int64_t c1, std::int64_t k, bool first, bool last, std::int32_t* out,
                    std::int64_t ldo, word_t* panel) {
  const std::int64_t words = w1 - w0;
  if (words < kCarrySaveWords) {
    for (std::int64_t cb = c0; cb < c1; cb += kSplitBlock) {
      const std::int64_t c_end = min64(kSplitBlock, c1 - cb);
      pack_split_panel(b, ldb, cb, c_end, w0, w1, panel);
      const ChannelOut o{out + cb, c_end, k, first, last};
      switch ((c_end + kLanes - 1) / kLanes) {
        case 4: each_row<split_lookup_tile<4>>(a + w0, m, lda, words, panel, ldo, o); break;
        case 3: each_row<split_lookup_tile<3>>(a + w0, m, lda, words, panel, ldo, o); break;
        case 2: each_row<split_lookup_tile<2>>(a + w0, m, lda, words, panel, ldo, o); break;
        default: each_row<split_lookup_tile<1>>(a + w0, m, lda, words, panel, ldo, o); break;
      }
    }
    return;
  }
  for (std::int64_t cb = c0; cb < c1; cb += kChannelBlock) {
    const std::int64_t c_end = min64(kChannelBlock, c1 - cb);
    pack_panel(b, ldb, cb, c_end, w0, w1, panel);
    const ChannelOut o{out + cb, c_end, k, first, last};
    if (c_end > kLanes) {
      each_row<channel_tile<2>>(a + w0, m, lda, words, panel, ldo, o);
    } else {
      each_row<channel_tile<1>>(a + w0, m, lda, words, panel, ldo, o);
    }
  }
}

void channel_bgemm(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                   std::int64_t n1) {
  alignas(64) word_t panel[kPanelKcWords * kChannelBlock];
  static_assert((kCarrySaveWords - 1) * kSplitRowWords <= kPanelKcWords * kChannelBlock);
  for (std::int64_t w0 = 0; w0 < p.words; w0 += kPanelKcWords) {
    const std::int64_t w1 = min64(p.words, w0 + kPanelKcWords);
    const std::int64_t row_block = max64(kChannelRows, kRowBlockBytes / ((w1 - w0) * 8));
    for (std::int64_t i0 = m0; i0 < m1; i0 += row_block) {
      const std::int64_t rows = min64(row_block, m1 - i0);
      channel_blocks(p.a + i0 * p.words, rows, p.words, w0, w1, p.b, p.words, n0, n1, p.k,
                     w0 == 0, w1 == p.words, p.out + i0 * p.n, p.n, panel);
    }
  }
}

}  // namespace

void bgemm_avx2(const BgemmProblem& p, std::int64_t m0, std::int64_t m1, std::int64_t n0,
                std::int64_t n1) {
  if (m1 - m0 >= kChannelRows) return channel_bgemm(p, m0, m1, n0, n1);
  blocked_bgemm<kMr, kNr, kKcWords, kL2Bytes>(p, m0, m1, n0, n1);
}

void bconv_gemm_avx2(const word_t* a, std::int64_t m, std::int64_t words, const word_t* b,
                     std::int64_t k, std::int32_t* out, std::int64_t ldo, std::int64_t c0,
                     std::int64_t c1, word_t* panel) {
  channel_blocks(a, m, words, 0, words, b, words, c0, c1, k, true, true, out, ldo, panel);
}

std::int64_t peak_avx2(std::int64_t iters, std::uint64_t* sink) {
  // The channel tile's inner step, register-resident: 3 independent chains of 4 xor results
  // through carry-save adders, then a lookup of the "fours" vector into byte counters.
  const Lookup look;
  const __m256i y0 = _mm256_set1_epi64x(static_cast<long long>(0xd1b54a32d192ed03ULL));
  const __m256i y1 = _mm256_set1_epi64x(static_cast<long long>(0x8cb92ba72f3d8dd7ULL));
  const __m256i y2 = _mm256_set1_epi64x(static_cast<long long>(0xa0761d6478bd642fULL));
  const __m256i y3 = _mm256_set1_epi64x(static_cast<long long>(0xe7037ed1a0b428dbULL));
#define ONEBIT_CHAINS(X) X(0) X(1) X(2)
#define ONEBIT_INIT(c)                                                                         \
  __m256i x##c = _mm256_set1_epi64x(static_cast<long long>(0x9e3779b97f4a7c15ULL * (c + 1))); \
  __m256i ones##c = x##c, twos##c = _mm256_setzero_si256(), fours##c = _mm256_setzero_si256();
#define ONEBIT_STEP(c)                                                                      \
  {                                                                                         \
    __m256i twos_a, twos_b, four;                                                           \
    carry_save(twos_a, ones##c, ones##c, _mm256_xor_si256(x##c, y0), _mm256_xor_si256(x##c, y1)); \
    carry_save(twos_b, ones##c, ones##c, _mm256_xor_si256(x##c, y2), _mm256_xor_si256(x##c, y3)); \
    carry_save(four, twos##c, twos##c, twos_a, twos_b);                                     \
    fours##c = _mm256_add_epi8(fours##c, look.bytes(four));                                 \
  }
#define ONEBIT_SUM(c) \
  total = _mm256_add_epi64(total, _mm256_add_epi64(sum_bytes(fours##c), _mm256_xor_si256(ones##c, twos##c)));
  ONEBIT_CHAINS(ONEBIT_INIT)
  for (std::int64_t it = 0; it < iters; ++it) {
    ONEBIT_CHAINS(ONEBIT_STEP)
    __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2));
  }
  __m256i total = _mm256_setzero_si256();
  ONEBIT_CHAINS(ONEBIT_SUM)
#undef ONEBIT_SUM
#undef ONEBIT_STEP
#undef ONEBIT_INIT
#undef ONEBIT_CHAINS
  *sink = static_cast<std::uint64_t>(hsum(total));
  return iters * 3 * kGroupWords * kVecWords * kWordBits;
}

}  // namespace onebit::kernels
