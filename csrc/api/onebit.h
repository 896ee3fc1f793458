/* onebit: run a packed binary network (a .onebit program) from C.
 *
 * A program is loaded from a file or from memory, validated as the Python loader validates it
 * (every size checked at load; a file is untrusted input), and run on float32 batches. Every
 * function returns an error code or NULL on failure and never lets an exception out; the reason is
 * onebit_last_error(), one line, kept per thread until the next failing call on that thread.
 *
 * A loaded program holds no per-call state: one program may run on several threads at once.
 *
 *   onebit_program* program = onebit_load("model.onebit");
 *   if (!program) { fprintf(stderr, "%s\n", onebit_last_error()); return 1; }
 *   float* logits = malloc(sizeof(float) * batch * onebit_output_size(program));
 *   if (onebit_run(program, images, batch, logits) != ONEBIT_OK) ...
 *   onebit_free(program);
 */
#ifndef ONEBIT_H
#define ONEBIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define ONEBIT_API __declspec(dllexport)
#else
#define ONEBIT_API __attribute__((visibility("default")))
#endif

#define ONEBIT_MAX_RANK 8

typedef struct onebit_program onebit_program;

typedef enum onebit_status {
  ONEBIT_OK = 0,
  ONEBIT_ERROR_FILE = 1,     /* the file is missing, unreadable, corrupt or not a program */
  ONEBIT_ERROR_PROGRAM = 2,  /* the graph is inconsistent or beyond the limits */
  ONEBIT_ERROR_INPUT = 3,    /* a call's input or batch is refused (shape, values, memory) */
  ONEBIT_ERROR_ARGUMENT = 4, /* a NULL pointer or a value out of range was passed */
  ONEBIT_ERROR_INTERNAL = 5  /* out of memory, or a bug: the message says which */
} onebit_status;

/* The library's version, e.g. "0.1.0". */
ONEBIT_API const char* onebit_version(void);

/* The last failure's message and status on this thread ("" and ONEBIT_OK if none). */
ONEBIT_API const char* onebit_last_error(void);
ONEBIT_API onebit_status onebit_last_status(void);

/* Loads a program from a file or from `size` bytes at `data` (copied: the caller may free them
 * when this returns). NULL on failure. max_memory and max_work: the limits of
 * onebit.runtime.load (bytes of a call's values at batch 1, operations per sample); 0 takes the
 * default (4 GiB and 2^36, or ONEBIT_MAX_MEMORY / ONEBIT_MAX_WORK from the environment). */
ONEBIT_API onebit_program* onebit_load(const char* path);
ONEBIT_API onebit_program* onebit_load_memory(const void* data, size_t size);
ONEBIT_API onebit_program* onebit_load_with_limits(const char* path, int64_t max_memory,
                                                   int64_t max_work);

/* One sample's input and output shapes (torch's layout, without the batch axis): the rank, and
 * the sides written to dims[0 .. rank) (dims may be NULL to ask the rank only; it must hold
 * ONEBIT_MAX_RANK values otherwise). -1 on failure. */
ONEBIT_API int onebit_input_shape(const onebit_program* program, int64_t* dims);
ONEBIT_API int onebit_output_shape(const onebit_program* program, int64_t* dims);
/* Values per sample of the input and of the output; -1 on failure. */
ONEBIT_API int64_t onebit_input_size(const onebit_program* program);
ONEBIT_API int64_t onebit_output_size(const onebit_program* program);

/* Threads the kernels use (1 to 256; 0: every hardware thread). Process-wide, as the kernels
 * share one pool. */
ONEBIT_API onebit_status onebit_set_threads(int threads);

/* The SIMD path the kernels take, process-wide: one this CPU runs ("avx512_vpopcntdq", "avx2",
 * "popcnt", "neon", "portable"), or NULL for the best again. Outputs do not depend on it; it is
 * for measuring a slower path on a faster CPU. onebit_simd_path() names the current one. */
ONEBIT_API onebit_status onebit_set_simd_path(const char* name);
ONEBIT_API const char* onebit_simd_path(void);

/* Runs `batch` samples: x holds batch * onebit_input_size() floats, out receives
 * batch * onebit_output_size() floats (the program's output must be float: a classifier's
 * logits). Inputs must be finite and within +-1e6. */
ONEBIT_API onebit_status onebit_run(const onebit_program* program, const float* x, int64_t batch,
                                    float* out);

/* Switched programs (a converted Bit-Mixer network): each switch is a layer whose bit width is
 * chosen at run time among up to ONEBIT_MAX_OPTIONS options. onebit_switch_count() gives their
 * number (0 for a plain program, -1 on failure); onebit_switch_name() the name of switch `index`
 * (owned by the program; NULL on failure); onebit_switch_options() its option count, writing the
 * options to options[0 ..) unless it is NULL (-1 on failure); onebit_switch_bits() the width it
 * runs at in this program (-1 on failure). */
#define ONEBIT_MAX_OPTIONS 8
ONEBIT_API int onebit_switch_count(const onebit_program* program);
ONEBIT_API const char* onebit_switch_name(const onebit_program* program, int index);
ONEBIT_API int onebit_switch_options(const onebit_program* program, int index, int* options);
ONEBIT_API int onebit_switch_bits(const onebit_program* program, int index);

/* The same program with switch i at bits[i] (count: the switch count): a new program, checked
 * as a load checks one, that shares the weights of `program` (each is freed on its own, in any
 * order). NULL on failure (ONEBIT_ERROR_INPUT: a width that is not its switch's option). */
ONEBIT_API onebit_program* onebit_with_bits(const onebit_program* program, const int* bits,
                                           size_t count);

/* Frees a program (NULL is ignored). */
ONEBIT_API void onebit_free(onebit_program* program);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_H */
