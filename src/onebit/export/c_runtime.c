/* The kernels that `onebit export c` copies into a generated model: C99, no allocation, no I/O.
 *
 * Each section between an "@kernel NAME [needs OTHER ...]" line and "@end" is copied only when
 * the model uses it (and what it needs first), so the generated file has no unused function.
 *
 * Bits: a binary value is packed along its channels into 32-bit words, channel c in bit c % 32 of
 * word c / 32 (the engine's 64-bit words split in two), bit 1 for -1 and bit 0 for +1; the unused
 * high bits of a pixel's last word are 0. A binary layer's accumulator over k bits is
 * k - 2 * popcount(x ^ w): the number of agreeing signs minus the disagreeing ones.
 * Maps are NHWC: pixel (y, x) of an H x W map starts at element (y * W + x) * per_pixel.
 */

/* @kernel popcount */
/* Set bits of a 32-bit word. Where the compiler knows a popcount instruction (x86 POPCNT,
 * ARMv8 NEON is not a Cortex-M) it uses it; otherwise a SWAR sum: with a multiplier the last
 * step is one multiply (Cortex-M3/M4/M7), and ONEBIT_SLOW_MULTIPLY (a Cortex-M0+ built with the
 * 32-cycle multiplier) uses shifts instead. */
#if defined(__GNUC__) && defined(__POPCNT__)
#define ob_popcount(v) ((int32_t)__builtin_popcount(v))
#else
static int32_t ob_popcount(uint32_t v) {
  v = v - ((v >> 1) & 0x55555555u);
  v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
  v = (v + (v >> 4)) & 0x0f0f0f0fu;
#if defined(ONEBIT_SLOW_MULTIPLY)
  v = v + (v >> 8);
  v = v + (v >> 16);
  return (int32_t)(v & 0x3fu);
#else
  return (int32_t)((v * 0x01010101u) >> 24);
#endif
}
#endif
/* @end */

/* @kernel xor_popcount needs popcount */
/* popcount(a ^ b) over n words. Without a popcount instruction, three words share the SWAR
 * steps after the first two: their 4-bit field counts (at most 4 each) add up to at most 12, so
 * one byte fold and one sum serve all three. */
static int32_t ob_xor_popcount(const uint32_t *a, const uint32_t *b, int32_t n) {
  int32_t count = 0;
  int32_t i = 0;
#if !(defined(__GNUC__) && defined(__POPCNT__))
  for (; i + 3 <= n; i += 3) {
    uint32_t v0 = a[i] ^ b[i], v1 = a[i + 1] ^ b[i + 1], v2 = a[i + 2] ^ b[i + 2];
    v0 = v0 - ((v0 >> 1) & 0x55555555u);
    v1 = v1 - ((v1 >> 1) & 0x55555555u);
    v2 = v2 - ((v2 >> 1) & 0x55555555u);
    v0 = (v0 & 0x33333333u) + ((v0 >> 2) & 0x33333333u);
    v1 = (v1 & 0x33333333u) + ((v1 >> 2) & 0x33333333u);
    v2 = (v2 & 0x33333333u) + ((v2 >> 2) & 0x33333333u);
    v0 = v0 + v1 + v2;
    v0 = (v0 & 0x0f0f0f0fu) + ((v0 >> 4) & 0x0f0f0f0fu);
#if defined(ONEBIT_SLOW_MULTIPLY)
    v0 = v0 + (v0 >> 8);
    v0 = v0 + (v0 >> 16);
    count += (int32_t)(v0 & 0xffu);
#else
    count += (int32_t)((v0 * 0x01010101u) >> 24);
#endif
  }
#endif
  /* The rest from fresh pointers: `for (; i < n; ++i)` after the loop above made GCC 12 at -O2
   * report undefined behaviour in a later iteration (-Waggressive-loop-optimizations) once the
   * call was inlined with a constant n (24), failing -Werror builds. */
  a += i;
  b += i;
  for (n -= i, i = 0; i < n; ++i) count += ob_popcount(a[i] ^ b[i]);
  return count;
}
/* @end */

/* @kernel epilogue */
/* What a layer does with its per-pixel results (int32 accumulators or float sums):
 * OB_FLOAT: y = acc * scale + bias, then the post steps, into floats;
 * OB_BITS: the sign of acc * scale + bias folded into an integer threshold: -1 where
 *   acc < threshold (acc > threshold where flip), +1 elsewhere;
 * OB_SIGN: y as OB_FLOAT, then -1 where y < 0 (NaN too), +1 elsewhere;
 * OB_NONE: floats as they are, then the post steps.
 * Signs go where the layer's ob_out points: packed bits (w), int8 (b) or float (f) +-1 values;
 * the int8 and float forms are the twins a model is compared with (`to_c(arithmetic=...)`). */
enum { OB_NONE = 0, OB_FLOAT = 1, OB_BITS = 2, OB_SIGN = 3 };
enum { OB_AFFINE = 0, OB_RELU = 1, OB_PRELU = 2, OB_HARDTANH = 3, OB_ADD = 4 };

typedef struct {
  int kind;
  const float *a;       /* affine: scale; prelu: slope */
  const float *b;       /* affine: bias */
  float low, high;      /* hardtanh */
  const float *residual; /* add: a map of the output's shape */
} ob_step;

typedef struct {
  int kind;
  const float *scale, *bias;      /* OB_FLOAT, OB_SIGN */
  const int32_t *threshold;       /* OB_BITS */
  const uint8_t *flip;            /* OB_BITS */
  const ob_step *steps;           /* after the affine (OB_FLOAT, OB_NONE) */
  int32_t n_steps;
} ob_epilogue;

/* A layer's output map: one of the three is set. */
typedef struct {
  float *f;     /* floats (n per pixel), or +-1.0 */
  uint32_t *w;  /* packed signs ((n + 31) / 32 words per pixel) */
  int8_t *b;    /* +-1 as int8 (n per pixel) */
} ob_out;

/* Steps on the n channels of one pixel, in place; `at` is the pixel's first element in the map
 * (where a residual is read). */
static void ob_steps(const ob_epilogue *e, float *y, int32_t n, int32_t at) {
  int32_t s, c;
  for (s = 0; s < e->n_steps; ++s) {
    const ob_step *step = &e->steps[s];
    for (c = 0; c < n; ++c) {
      float v = y[c];
      switch (step->kind) {
        case OB_AFFINE: v = v * step->a[c]; v = v + step->b[c]; break;
        case OB_RELU: v = v < 0.0f ? 0.0f : v; break;
        case OB_PRELU: v = v >= 0.0f ? v : v * step->a[c]; break;
        case OB_HARDTANH:
          v = v < step->low ? step->low : v;
          v = v > step->high ? step->high : v;
          break;
        default: v = v + step->residual[at + c]; break;
      }
      y[c] = v;
    }
  }
}

/* Writes the sign of channel c of pixel `pixel` (n channels); channels come in order 0, 1, ...,
 * so a packed word is cleared when its first channel is written. */
static void ob_put_sign(const ob_out *o, int32_t n, int32_t pixel, int32_t c, int negative) {
  if (o->w != 0) {
    uint32_t *word = o->w + pixel * ((n + 31) / 32) + c / 32;
    if (c % 32 == 0) *word = 0;
    if (negative) *word |= (uint32_t)1 << (c % 32);
  } else if (o->b != 0) {
    o->b[pixel * n + c] = (int8_t)(negative ? -1 : 1);
  } else {
    o->f[pixel * n + c] = negative ? -1.0f : 1.0f;
  }
}
/* @end */

/* @kernel output_acc needs epilogue */
/* Pixel `pixel`'s n int32 accumulators through e (OB_FLOAT or OB_BITS) into o. */
static void ob_output_acc(const ob_epilogue *e, const int32_t *acc, int32_t n, const ob_out *o,
                          int32_t pixel) {
  const int32_t at = pixel * n;
  int32_t c;
  if (e->kind == OB_BITS && o->w != 0) { /* the model's own case: whole words at once */
    uint32_t *words = o->w + pixel * ((n + 31) / 32);
    int32_t c0;
    for (c0 = 0; c0 < n; c0 += 32) {
      const int32_t end = n - c0 < 32 ? n : c0 + 32;
      uint32_t word = 0;
      for (c = c0; c < end; ++c) {
        const int negative = e->flip[c] ? acc[c] > e->threshold[c] : acc[c] < e->threshold[c];
        word |= (uint32_t)negative << (c - c0);
      }
      words[c0 / 32] = word;
    }
    return;
  }
  if (e->kind == OB_BITS) {
    for (c = 0; c < n; ++c)
      ob_put_sign(o, n, pixel, c, e->flip[c] ? acc[c] > e->threshold[c] : acc[c] < e->threshold[c]);
    return;
  }
  for (c = 0; c < n; ++c) {
    const float v = (float)acc[c] * e->scale[c];
    o->f[at + c] = v + e->bias[c];
  }
  ob_steps(e, o->f + at, n, at);
}
/* @end */

/* @kernel output_float needs epilogue */
/* Pixel `pixel`'s n float sums (in y, changed) through e into o. OB_BITS reads y as exact
 * integer sums (a float twin's binary layer). */
static void ob_output_float(const ob_epilogue *e, float *y, int32_t n, const ob_out *o,
                            int32_t pixel) {
  const int32_t at = pixel * n;
  int32_t c;
  if (e->kind == OB_BITS) {
    for (c = 0; c < n; ++c) {
      const float t = (float)e->threshold[c];
      ob_put_sign(o, n, pixel, c, e->flip[c] ? y[c] > t : y[c] < t);
    }
    return;
  }
  if (e->kind == OB_FLOAT || e->kind == OB_SIGN)
    for (c = 0; c < n; ++c) {
      const float v = y[c] * e->scale[c];
      y[c] = v + e->bias[c];
    }
  if (e->kind == OB_SIGN) {
    for (c = 0; c < n; ++c) ob_put_sign(o, n, pixel, c, !(y[c] >= 0.0f));
    return;
  }
  ob_steps(e, y, n, at);
  for (c = 0; c < n; ++c) o->f[at + c] = y[c];
}
/* @end */

/* @kernel binary_dense needs xor_popcount output_acc */
/* Packed x (words) against each of the cout packed weight rows: acc = k - 2 * popcount, then e.
 * acc: cout int32 of scratch. */
static void ob_binary_dense(const uint32_t *x, const uint32_t *weight, int32_t k, int32_t words,
                            int32_t cout, const ob_epilogue *e, ob_out o, int32_t *acc) {
  int32_t c;
  for (c = 0; c < cout; ++c) acc[c] = k - 2 * ob_xor_popcount(x, weight + c * words, words);
  ob_output_acc(e, acc, cout, &o, 0);
}
/* @end */

/* @kernel conv_geometry */
/* Tap (i, j) of output pixel (oy, ox) reads input pixel (oy * sh - top + i * dh,
 * ox * sw - left + j * dw); the pools' dilation is 1. */
typedef struct {
  int32_t h, w, ho, wo;       /* input and output sides */
  int32_t kh, kw, sh, sw;     /* kernel and stride */
  int32_t top, left;          /* padding before the first row and column */
  int32_t dh, dw;             /* dilation */
} ob_conv_geometry;
/* @end */

/* @kernel bit_slice */
/* Bits [first, first + count) of a packed row, re-based at bit 0 into (count + 31) / 32 words,
 * the unused high bits 0: one group's channels of a pixel. Reads no word past bit
 * first + count - 1. */
static void ob_bit_slice(const uint32_t *row, int32_t first, int32_t count, uint32_t *to) {
  const int32_t n = (count + 31) / 32, shift = first % 32;
  const uint32_t *from = row + first / 32;
  int32_t w;
  for (w = 0; w < n; ++w) {
    uint32_t v = from[w] >> shift;
    if (shift != 0 && 32 * w + 32 - shift < count) v |= from[w + 1] << (32 - shift);
    to[w] = v;
  }
  if (count % 32 != 0) to[n - 1] &= ((uint32_t)1 << (count % 32)) - 1u;
}
/* @end */

/* @kernel binary_conv2d needs xor_popcount output_acc conv_geometry bit_slice */
/* Binary convolution (cross-correlation) of a packed NHWC map (words per pixel) with weights
 * (cout, kh, kw, tap_words), in `groups` groups: output channel o reads the group_in = cin /
 * groups channels of its group o / (cout / groups), re-packed from bit 0 into tap_words =
 * (group_in + 31) / 32 words per tap (the whole pixel when groups is 1). For each output pixel
 * and group the window's words are gathered into `patch` (kh * kw * tap_words words, a padded
 * tap as all-zero words, i.e. +1 on every channel), so that each output channel is one run of
 * XNOR-popcount over the patch: acc = k - 2 * popcount. With zero padding (pad_one 0) a padded
 * tap adds nothing instead, so its +1 contribution, group_in - 2 * popcount(weight tap), is
 * taken back (only border pixels have padded taps).
 * Scratch: acc (cout int32), patch, and `padded` (kh * kw int32). */
static void ob_binary_conv2d(const uint32_t *x, const ob_conv_geometry *g, int32_t cin,
                             int32_t words, int32_t groups, const uint32_t *weight, int32_t cout,
                             int pad_one, const ob_epilogue *e, ob_out out, int32_t *acc,
                             uint32_t *patch, int32_t *padded) {
  const int32_t group_in = cin / groups, group_out = cout / groups;
  const int32_t tap_words = (group_in + 31) / 32, taps = g->kh * g->kw;
  const int32_t k_words = taps * tap_words, k = taps * group_in;
  int32_t oy, ox, o, i, j, w, group;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      int32_t n_padded = 0;
      for (group = 0; group < groups; ++group) {
        for (i = 0; i < g->kh; ++i) {
          const int32_t iy = oy * g->sh - g->top + i * g->dh;
          for (j = 0; j < g->kw; ++j) {
            const int32_t ix = ox * g->sw - g->left + j * g->dw;
            uint32_t *to = patch + (i * g->kw + j) * tap_words;
            if (iy >= 0 && iy < g->h && ix >= 0 && ix < g->w) {
              const uint32_t *from = x + (iy * g->w + ix) * words;
              if (groups == 1) {
                for (w = 0; w < words; ++w) to[w] = from[w];
              } else {
                ob_bit_slice(from, group * group_in, group_in, to);
              }
            } else {
              for (w = 0; w < tap_words; ++w) to[w] = 0;
              if (group == 0) padded[n_padded++] = i * g->kw + j;
            }
          }
        }
        for (o = group * group_out; o < (group + 1) * group_out; ++o) {
          const uint32_t *filter = weight + o * k_words;
          int32_t sum = k - 2 * ob_xor_popcount(patch, filter, k_words);
          if (!pad_one)
            for (i = 0; i < n_padded; ++i) {
              const uint32_t *tap = filter + padded[i] * tap_words;
              int32_t ones = 0;
              for (w = 0; w < tap_words; ++w) ones += ob_popcount(tap[w]);
              sum -= group_in - 2 * ones;
            }
          acc[o] = sum;
        }
      }
      ob_output_acc(e, acc, cout, &out, oy * g->wo + ox);
    }
}
/* @end */

/* @kernel dot */
/* sum plus x . w over n values, added in order, w float, +-1 packed as bits (bit 1: -1; a +-1
 * weight adds or subtracts, no multiply) or int8: whichever pointer is set. */
static float ob_dot(float sum, const float *x, int32_t n, const float *w, const uint32_t *bits,
                    const int8_t *w8) {
  int32_t i;
  if (bits) {
    for (i = 0; i < n; ++i) sum += (bits[i / 32] >> (i % 32)) & 1u ? -x[i] : x[i];
  } else if (w8) {
    for (i = 0; i < n; ++i) sum += x[i] * (float)w8[i];
  } else {
    for (i = 0; i < n; ++i) sum += x[i] * w[i];
  }
  return sum;
}
/* @end */

/* @kernel conv2d needs output_float conv_geometry dot */
/* Float convolution of an NHWC map (cin channels) with weights (cout, kh, kw, cin / groups): float
 * (weight), +-1 packed as bits (weight_bits: (cin / groups + 31) / 32 words per (o, i, j)) or
 * int8 (weight_s8). For each output pixel the window is gathered into `patch` (kh * kw * cin
 * floats, pad_value outside the map); each output channel then sums its group's channels in tap
 * order (i, j), then channel. Scratch: y (cout floats), patch. */
static void ob_conv2d(const float *x, const ob_conv_geometry *g, int32_t cin, int32_t cout,
                      int32_t groups, const float *weight, const uint32_t *weight_bits,
                      const int8_t *weight_s8, float pad_value, const ob_epilogue *e, ob_out out,
                      float *y, float *patch) {
  const int32_t group_in = cin / groups, group_out = cout / groups;
  const int32_t taps = g->kh * g->kw, tap_words = (group_in + 31) / 32;
  int32_t oy, ox, o, i, j, c, t;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i * g->dh;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j * g->dw;
          float *to = patch + (i * g->kw + j) * cin;
          const int inside = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
          const float *from = inside ? x + (iy * g->w + ix) * cin : 0;
          for (c = 0; c < cin; ++c) to[c] = inside ? from[c] : pad_value;
        }
      }
      for (o = 0; o < cout; ++o) {
        const int32_t c0 = (o / group_out) * group_in;
        float sum = 0.0f;
        for (t = 0; t < taps; ++t) {
          const int32_t tap = o * taps + t;
          sum = ob_dot(sum, patch + t * cin + c0, group_in, weight ? weight + tap * group_in : 0,
                       weight_bits ? weight_bits + tap * tap_words : 0,
                       weight_s8 ? weight_s8 + tap * group_in : 0);
        }
        y[o] = sum;
      }
      ob_output_float(e, y, cout, &out, oy * g->wo + ox);
    }
}
/* @end */

/* @kernel dense needs output_float dot */
/* Float x (features) times weights (outputs, features): float, +-1 packed as bits (words per
 * row: a +-1 weight adds or subtracts, no multiply) or int8. y: outputs floats of scratch. */
static void ob_dense(const float *x, int32_t features, int32_t outputs, const float *weight,
                     const uint32_t *weight_bits, const int8_t *weight_s8, const ob_epilogue *e,
                     ob_out out, float *y) {
  const int32_t words = (features + 31) / 32;
  int32_t o;
  for (o = 0; o < outputs; ++o)
    y[o] = ob_dot(0.0f, x, features, weight ? weight + o * features : 0,
                  weight_bits ? weight_bits + o * words : 0,
                  weight_s8 ? weight_s8 + o * features : 0);
  ob_output_float(e, y, outputs, &out, 0);
}
/* @end */

/* @kernel dense_s8 needs output_acc */
/* The int8 twin of a binary dense layer: +-1 int8 x and weights, int32 sums. acc: outputs int32. */
static void ob_dense_s8(const int8_t *x, int32_t features, int32_t outputs, const int8_t *weight,
                        const ob_epilogue *e, ob_out out, int32_t *acc) {
  int32_t o, f;
  for (o = 0; o < outputs; ++o) {
    const int8_t *row = weight + o * features;
    int32_t sum = 0;
    for (f = 0; f < features; ++f) sum += (int32_t)x[f] * (int32_t)row[f];
    acc[o] = sum;
  }
  ob_output_acc(e, acc, outputs, &out, 0);
}
/* @end */

/* @kernel conv2d_s8 needs output_acc conv_geometry */
/* The int8 twin of a binary convolution: +-1 int8 map and weights (cout, kh, kw, cin / groups),
 * int32 sums; the window is gathered into `patch` (kh * kw * cin int8, pad (1 or 0) outside the
 * map), then each output channel is one dot product per tap over its group's channels.
 * Scratch: acc (cout int32), patch. */
static void ob_conv2d_s8(const int8_t *x, const ob_conv_geometry *g, int32_t cin, int32_t cout,
                         int32_t groups, const int8_t *weight, int32_t pad, const ob_epilogue *e,
                         ob_out out, int32_t *acc, int8_t *patch) {
  const int32_t group_in = cin / groups, group_out = cout / groups, taps = g->kh * g->kw;
  int32_t oy, ox, o, i, j, c, t;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i * g->dh;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j * g->dw;
          int8_t *to = patch + (i * g->kw + j) * cin;
          const int inside = iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
          const int8_t *from = inside ? x + (iy * g->w + ix) * cin : 0;
          for (c = 0; c < cin; ++c) to[c] = inside ? from[c] : (int8_t)pad;
        }
      }
      for (o = 0; o < cout; ++o) {
        int32_t sum = 0;
        if (groups == 1) { /* the patch and the filter row are alike: one dot product */
          const int8_t *w = weight + o * taps * cin;
          for (c = 0; c < taps * cin; ++c) sum += (int32_t)patch[c] * (int32_t)w[c];
        } else {
          const int8_t *in = patch + (o / group_out) * group_in;
          for (t = 0; t < taps; ++t) {
            const int8_t *w = weight + (o * taps + t) * group_in;
            for (c = 0; c < group_in; ++c) sum += (int32_t)in[t * cin + c] * (int32_t)w[c];
          }
        }
        acc[o] = sum;
      }
      ob_output_acc(e, acc, cout, &out, oy * g->wo + ox);
    }
}
/* @end */

/* @kernel maxpool2d_s8 needs conv_geometry */
/* Max of each window of an int8 NHWC map (the int8 twin's binary max-pool); padding ignored. */
static void ob_maxpool2d_s8(const int8_t *x, const ob_conv_geometry *g, int32_t c, int8_t *out) {
  int32_t oy, ox, i, j, k;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      int8_t *o = out + (oy * g->wo + ox) * c;
      for (k = 0; k < c; ++k) o[k] = -128;
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j;
          if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
          for (k = 0; k < c; ++k) {
            const int8_t v = x[(iy * g->w + ix) * c + k];
            o[k] = v > o[k] ? v : o[k];
          }
        }
      }
    }
}
/* @end */

/* @kernel sign_pack needs epilogue */
/* Each pixel's n floats as signs (-1 where not >= 0) into o: packed, int8 or float. */
static void ob_sign_pack(const float *x, int32_t pixels, int32_t n, ob_out out) {
  int32_t p, c;
  for (p = 0; p < pixels; ++p)
    for (c = 0; c < n; ++c) ob_put_sign(&out, n, p, c, !(x[p * n + c] >= 0.0f));
}
/* @end */

/* @kernel sign_pack_affine needs epilogue */
/* Each pixel's n floats times scale plus bias per channel (the product rounded first), as
 * signs into o: a batch norm before a sign whose input is also read elsewhere. */
static void ob_sign_pack_affine(const float *x, int32_t pixels, int32_t n, const float *scale,
                                const float *bias, ob_out out) {
  int32_t p, c;
  for (p = 0; p < pixels; ++p)
    for (c = 0; c < n; ++c) {
      const float v = x[p * n + c] * scale[c];
      ob_put_sign(&out, n, p, c, !(v + bias[c] >= 0.0f));
    }
}
/* @end */

/* @kernel nchw_to_nhwc */
static void ob_nchw_to_nhwc(const float *x, int32_t c, int32_t h, int32_t w, float *out) {
  int32_t i, p;
  for (p = 0; p < h * w; ++p)
    for (i = 0; i < c; ++i) out[p * c + i] = x[i * h * w + p];
}
/* @end */

/* @kernel nhwc_to_nchw */
static void ob_nhwc_to_nchw(const float *x, int32_t h, int32_t w, int32_t c, float *out) {
  int32_t i, p;
  for (p = 0; p < h * w; ++p)
    for (i = 0; i < c; ++i) out[i * h * w + p] = x[p * c + i];
}
/* @end */

/* @kernel maxpool2d needs conv_geometry */
/* Max of each window of a float NHWC map; padded positions never win. */
static void ob_maxpool2d(const float *x, const ob_conv_geometry *g, int32_t c, float *out) {
  int32_t oy, ox, i, j, k;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      float *o = out + (oy * g->wo + ox) * c;
      int first = 1;
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j;
          const float *in = x + (iy * g->w + ix) * c;
          if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
          for (k = 0; k < c; ++k) o[k] = first || in[k] > o[k] ? in[k] : o[k];
          first = 0;
        }
      }
    }
}
/* @end */

/* @kernel binary_maxpool2d needs conv_geometry */
/* Max-pool of a packed map: +1 wins, so a window's bits AND; padded positions are ignored. */
static void ob_binary_maxpool2d(const uint32_t *x, const ob_conv_geometry *g, int32_t words,
                                uint32_t *out) {
  int32_t oy, ox, i, j, k;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      uint32_t *o = out + (oy * g->wo + ox) * words;
      for (k = 0; k < words; ++k) o[k] = 0xffffffffu;
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j;
          if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
          for (k = 0; k < words; ++k) o[k] &= x[(iy * g->w + ix) * words + k];
        }
      }
    }
}
/* @end */

/* @kernel avgpool2d needs conv_geometry */
/* Mean of each window of a float NHWC map, padded zeros counted (count_include_pad). */
static void ob_avgpool2d(const float *x, const ob_conv_geometry *g, int32_t c, float *out) {
  const float taps = (float)(g->kh * g->kw);
  int32_t oy, ox, i, j, k;
  for (oy = 0; oy < g->ho; ++oy)
    for (ox = 0; ox < g->wo; ++ox) {
      float *o = out + (oy * g->wo + ox) * c;
      for (k = 0; k < c; ++k) o[k] = 0.0f;
      for (i = 0; i < g->kh; ++i) {
        const int32_t iy = oy * g->sh - g->top + i;
        for (j = 0; j < g->kw; ++j) {
          const int32_t ix = ox * g->sw - g->left + j;
          if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) continue;
          for (k = 0; k < c; ++k) o[k] += x[(iy * g->w + ix) * c + k];
        }
      }
      for (k = 0; k < c; ++k) o[k] /= taps;
    }
}
/* @end */

/* @kernel global_avgpool */
/* Mean over the pixels of a float NHWC map, per channel. */
static void ob_global_avgpool(const float *x, int32_t pixels, int32_t c, float *out) {
  int32_t p, k;
  for (k = 0; k < c; ++k) out[k] = 0.0f;
  for (p = 0; p < pixels; ++p)
    for (k = 0; k < c; ++k) out[k] += x[p * c + k];
  for (k = 0; k < c; ++k) out[k] /= (float)pixels;
}
/* @end */

/* @kernel elementwise needs epilogue */
/* The post steps of e on a float map of pixels x c, from x into out (x == out is allowed). */
static void ob_elementwise(const float *x, int32_t pixels, int32_t c, const ob_epilogue *e,
                           float *out) {
  int32_t p, k;
  for (p = 0; p < pixels; ++p) {
    for (k = 0; k < c; ++k) out[p * c + k] = x[p * c + k];
    ob_steps(e, out + p * c, c, p * c);
  }
}
/* @end */

/* @kernel pad */
/* A float NHWC map with constant rows and columns around it. */
static void ob_pad(const float *x, int32_t h, int32_t w, int32_t c, int32_t top, int32_t bottom,
                   int32_t left, int32_t right, float value, float *out) {
  const int32_t ow = w + left + right;
  int32_t y, i, k;
  for (y = 0; y < h + top + bottom; ++y)
    for (i = 0; i < ow; ++i)
      for (k = 0; k < c; ++k) {
        const int inside = y >= top && y < top + h && i >= left && i < left + w;
        out[(y * ow + i) * c + k] = inside ? x[((y - top) * w + (i - left)) * c + k] : value;
      }
}
/* @end */

/* @kernel upsample_nearest */
/* Nearest upsampling of an h x w NHWC map by sh x sw: output pixel (y, x) is input pixel
 * (y / sh, x / sw). A pixel is `bytes` bytes (floats, packed words, or float or int8 +-1),
 * copied as it is; each input row makes one output row, which is then copied sh - 1 times. */
static void ob_upsample_nearest(const void *x, int32_t h, int32_t w, int32_t bytes, int32_t sh,
                                int32_t sw, void *out) {
  const int32_t row = w * sw * bytes;
  const unsigned char *from = (const unsigned char *)x;
  unsigned char *to = (unsigned char *)out;
  int32_t y, i, k;
  for (y = 0; y < h; ++y) {
    unsigned char *first = to + y * sh * row;
    for (i = 0; i < w * sw; ++i)
      memcpy(first + i * bytes, from + (y * w + i / sw) * bytes, (size_t)bytes);
    for (k = 1; k < sh; ++k) memcpy(first + k * row, first, (size_t)row);
  }
}
/* @end */

/* @kernel channel_shuffle */
/* ShuffleNet's channel shuffle of `rows` rows of c floats (a map's pixels, or one vector):
 * output channel b * groups + a is input channel a * (c / groups) + b. */
static void ob_channel_shuffle(const float *x, int32_t rows, int32_t c, int32_t groups,
                               float *out) {
  const int32_t per_group = c / groups;
  int32_t r, a, b;
  for (r = 0; r < rows; ++r) {
    const float *from = x + r * c;
    float *to = out + r * c;
    for (b = 0; b < per_group; ++b)
      for (a = 0; a < groups; ++a) to[b * groups + a] = from[a * per_group + b];
  }
}
/* @end */

/* @kernel concat */
/* One input of a join along the last axis: each of its `rows` rows of `bytes` bytes goes to byte
 * `at` of the output's rows of `out_bytes` bytes (floats, or float or int8 +-1 signs). */
static void ob_concat(const void *x, int32_t rows, int32_t bytes, int32_t at, int32_t out_bytes,
                      void *out) {
  const unsigned char *from = (const unsigned char *)x;
  unsigned char *to = (unsigned char *)out + at;
  int32_t r;
  for (r = 0; r < rows; ++r) memcpy(to + r * out_bytes, from + r * bytes, (size_t)bytes);
}
/* @end */

/* @kernel binary_concat */
/* One input of a join of packed rows along their channels: each of its `rows` rows of n signs
 * becomes channels at, ..., at + n - 1 of the output's rows of `total` signs. The inputs are
 * joined in order from at = 0. Where `at` starts a word the words are copied as they are;
 * otherwise they are shifted: the first output word, which the previous input began (its high
 * bits still 0), is ORed into, and every later one is written whole. */
static void ob_binary_concat(const uint32_t *x, int32_t rows, int32_t n, int32_t at,
                             int32_t total, uint32_t *out) {
  const int32_t words = (n + 31) / 32, out_words = (total + 31) / 32;
  const int32_t shift = at % 32, span = (shift + n + 31) / 32;
  int32_t r, i;
  for (r = 0; r < rows; ++r) {
    const uint32_t *from = x + r * words;
    uint32_t *to = out + r * out_words + at / 32;
    if (shift == 0) {
      for (i = 0; i < words; ++i) to[i] = from[i];
    } else {
      to[0] |= from[0] << shift;
      for (i = 1; i < span; ++i)
        to[i] = (from[i - 1] >> (32 - shift)) | (i < words ? from[i] << shift : 0u);
    }
  }
}
/* @end */

/* @kernel input_u8 */
/* A uint8 buffer as the model's float input: (q - zero_point) * scale. */
static void ob_input_u8(const uint8_t *q, int32_t n, float zero_point, float scale, float *out) {
  int32_t i;
  for (i = 0; i < n; ++i) out[i] = ((float)q[i] - zero_point) * scale;
}
/* @end */
