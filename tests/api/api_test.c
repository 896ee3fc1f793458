/* The C API's contract, without Python: every failure is a status (or NULL) and one line from
 * onebit_last_error(), never a crash. Usage: api_test MODEL.onebit [SWITCHED.onebit] (float-output
 * programs whose input has 784 values, e.g. the demo MLP; the second a converted Bit-Mixer MLP of
 * three switches of 2, 3 or 4 bits, defaults 4). Prints one line per check, then the switched
 * program's logits at widths 2,3,4 ("logits 2,3,4: ..."), and exits non-zero if a check failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onebit.h"

static int failures = 0;

static void check(int ok, const char* what) {
  printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

static int mentions(const char* text) { return strstr(onebit_last_error(), text) != NULL; }

/* The switched program at `path`: its switches, a setting made from it (which outlives it), the
 * refusals; then its logits at widths 2,3,4 on one sample (main's first), for the Python side. */
static void check_switched(const char* path) {
  float x[784];
  for (int i = 0; i < 784; ++i) x[i] = (float)((i * 37) % 255) / 255.0f;
  onebit_program* program = onebit_load(path);
  check(program != NULL, "the switched program loads");
  if (program == NULL) return;
  int options[ONEBIT_MAX_OPTIONS];
  check(onebit_switch_count(program) == 3 && onebit_switch_name(program, 0) != NULL &&
            onebit_switch_options(program, 2, options) == 3 && options[0] == 2 &&
            options[2] == 4 && onebit_switch_bits(program, 1) == 4,
        "three switches of 2, 3 or 4 bits, at 4");
  check(onebit_switch_name(program, 3) == NULL && mentions("switch index 3") &&
            onebit_switch_options(program, -1, NULL) == -1,
        "a switch index past the count is refused");
  const int widest[3] = {4, 4, 4}, narrow[3] = {2, 3, 4}, wrong[3] = {2, 5, 4};
  onebit_program* same = onebit_with_bits(program, widest, 3);
  onebit_program* mixed = onebit_with_bits(program, narrow, 3);
  float a[10], b[10], c[10];
  check(same != NULL && mixed != NULL && onebit_switch_bits(mixed, 0) == 2,
        "settings are made from the program");
  check(onebit_run(program, x, 1, a) == ONEBIT_OK && onebit_run(same, x, 1, b) == ONEBIT_OK &&
            memcmp(a, b, sizeof a) == 0,
        "the default setting computes the program's logits");
  check(onebit_with_bits(program, wrong, 3) == NULL &&
            onebit_last_status() == ONEBIT_ERROR_INPUT && mentions("runs at [2, 3, 4] bits, not 5"),
        "a width off its switch's options is refused");
  check(onebit_with_bits(program, widest, 2) == NULL && mentions("one width per switch (3)") &&
            onebit_with_bits(program, NULL, 3) == NULL && mentions("bits is NULL"),
        "a setting of the wrong length or NULL is refused");
  onebit_free(program);
  onebit_free(same);
  check(mixed != NULL && onebit_run(mixed, x, 1, c) == ONEBIT_OK,
        "a setting runs after its program is freed (the weights are shared)");
  printf("logits 2,3,4:");
  for (int i = 0; i < 10; ++i) printf(" %.9g", c[i]);
  printf("\n");
  onebit_free(mixed);
}

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s MODEL.onebit [SWITCHED.onebit]\n", argv[0]);
    return 2;
  }
  check(strcmp(onebit_version(), "0.1.0") == 0, "onebit_version");
  check(onebit_load("/nonexistent/model.onebit") == NULL && mentions("not found") &&
            onebit_last_status() == ONEBIT_ERROR_FILE,
        "a missing file is refused and named");
  check(onebit_load(NULL) == NULL && mentions("path is NULL"), "a NULL path is refused");
  const char garbage[] = "this is not a onebit program at all";
  check(onebit_load_memory(garbage, sizeof garbage) == NULL && mentions("not a readable"),
        "bytes that are not a program are refused");

  FILE* file = fopen(argv[1], "rb");
  if (file == NULL) return 2;
  fseek(file, 0, SEEK_END);
  const long size = ftell(file);
  fseek(file, 0, SEEK_SET);
  unsigned char* bytes = malloc((size_t)size);
  if (bytes == NULL || fread(bytes, 1, (size_t)size, file) != (size_t)size) return 2;
  fclose(file);
  bytes[size / 2] ^= 0x40;
  check(onebit_load_memory(bytes, (size_t)size) == NULL && mentions("checksum"),
        "a flipped byte is refused by the checksum");
  bytes[size / 2] ^= 0x40;
  onebit_program* from_memory = onebit_load_memory(bytes, (size_t)size);
  free(bytes);
  check(from_memory != NULL, "the file's bytes load from memory");
  check(onebit_load_with_limits(argv[1], 1000, 0) == NULL && mentions("limit 1000") &&
            onebit_last_status() == ONEBIT_ERROR_PROGRAM,
        "a memory limit below the program's needs refuses it");

  onebit_program* program = onebit_load(argv[1]);
  check(program != NULL, "the program loads from its path");
  if (program == NULL || from_memory == NULL) {
    fprintf(stderr, "%s\n", onebit_last_error());
    return 1;
  }
  int64_t dims[ONEBIT_MAX_RANK];
  const int rank = onebit_input_shape(program, dims);
  check(rank >= 1 && onebit_input_size(program) == 784, "the input shape and size");
  check(onebit_output_shape(program, NULL) == 1 && onebit_output_size(program) == 10,
        "the output shape and size");

  float x[2 * 784], a[2 * 10], b[2 * 10];
  for (int i = 0; i < 2 * 784; ++i) x[i] = (float)((i * 37) % 255) / 255.0f;
  check(onebit_run(program, x, 2, a) == ONEBIT_OK, "a batch of 2 runs");
  check(onebit_run(from_memory, x, 2, b) == ONEBIT_OK && memcmp(a, b, sizeof a) == 0,
        "the program from memory computes the same logits");
  check(onebit_set_threads(2) == ONEBIT_OK && onebit_run(program, x, 2, b) == ONEBIT_OK &&
            memcmp(a, b, sizeof a) == 0,
        "2 threads compute the same logits");
  check(onebit_set_simd_path("portable") == ONEBIT_OK &&
            strcmp(onebit_simd_path(), "portable") == 0 && onebit_run(program, x, 2, b) == ONEBIT_OK &&
            memcmp(a, b, sizeof a) == 0,
        "the portable path, forced, computes the same logits");
  check(onebit_set_simd_path("sse9") == ONEBIT_ERROR_ARGUMENT && mentions("sse9") &&
            strcmp(onebit_simd_path(), "portable") == 0,
        "an unknown SIMD path is refused and changes nothing");
  check(onebit_set_simd_path(NULL) == ONEBIT_OK, "NULL restores the best path");
  check(onebit_set_threads(-1) == ONEBIT_ERROR_ARGUMENT && mentions("threads"),
        "a negative thread count is refused");
  check(onebit_run(program, x, 0, NULL) == ONEBIT_OK, "an empty batch is a no-op");
  check(onebit_run(program, NULL, 2, a) == ONEBIT_ERROR_ARGUMENT && mentions("x is NULL"),
        "a NULL input is refused");
  check(onebit_run(NULL, x, 2, a) == ONEBIT_ERROR_ARGUMENT, "a NULL program is refused");
  x[5] = NAN;
  check(onebit_run(program, x, 2, a) == ONEBIT_ERROR_INPUT && mentions("finite"),
        "a NaN input is refused");
  x[5] = 2e6f;
  check(onebit_run(program, x, 2, a) == ONEBIT_ERROR_INPUT && mentions("within"),
        "an input beyond +-1e6 is refused");
  const int widths[3] = {2, 3, 4};
  check(onebit_switch_count(program) == 0 && onebit_with_bits(program, widths, 1) == NULL &&
            onebit_last_status() == ONEBIT_ERROR_INPUT && mentions("no switchable layers"),
        "a plain program has no switches");
  onebit_free(program);
  onebit_free(from_memory);
  onebit_free(NULL);
  if (argc == 3) check_switched(argv[2]);
  printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
