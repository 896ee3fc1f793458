/* Classifies MNIST-style images with a .onebit program through the C API (no Python).
 *
 *   classify MODEL.onebit IMAGES.idx3-ubyte [LABELS.idx1-ubyte] [THREADS]
 *
 * Reads the images from an IDX file (unsigned bytes, N x H x W, as MNIST ships them), scales
 * them to [0, 1] as onebit's data loaders do (x / 255), runs them in batches of 256 and prints
 * one predicted class per line; with labels, the accuracy goes to stderr. Exit status 0 on
 * success, 1 on a bad argument or file, 2 when the library refuses the program or a batch.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onebit.h"

enum { BATCH = 256 };

static uint32_t read_be32(const unsigned char* bytes) {
  return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) | ((uint32_t)bytes[2] << 8) |
         (uint32_t)bytes[3];
}

/* The payload of an IDX file of unsigned bytes with `rank` dimensions; NULL with a message. */
static unsigned char* read_idx(const char* path, int rank, uint32_t* dims, size_t* count) {
  FILE* file = fopen(path, "rb");
  unsigned char header[16];
  if (file == NULL) {
    fprintf(stderr, "cannot open %s\n", path);
    return NULL;
  }
  if (fread(header, 1, 4 + 4 * (size_t)rank, file) != 4 + 4 * (size_t)rank ||
      read_be32(header) != (0x0800u | (uint32_t)rank)) {
    fprintf(stderr, "%s is not an IDX file of %d-axis unsigned bytes\n", path, rank);
    fclose(file);
    return NULL;
  }
  *count = 1;
  for (int i = 0; i < rank; ++i) {
    dims[i] = read_be32(header + 4 + 4 * i);
    if (dims[i] == 0 || *count > SIZE_MAX / dims[i]) {
      fprintf(stderr, "%s: dimension %d is 0 or too large\n", path, i);
      fclose(file);
      return NULL;
    }
    *count *= dims[i];
  }
  unsigned char* data = malloc(*count);
  if (data == NULL || fread(data, 1, *count, file) != *count) {
    fprintf(stderr, "%s: %s\n", path, data == NULL ? "out of memory" : "truncated");
    free(data);
    data = NULL;
  }
  fclose(file);
  return data;
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: %s MODEL.onebit IMAGES.idx3-ubyte [LABELS.idx1-ubyte] [THREADS]\n",
            argv[0]);
    return 1;
  }
  uint32_t dims[3], label_dims[1];
  size_t pixels = 0, label_count = 0;
  unsigned char* images = read_idx(argv[2], 3, dims, &pixels);
  if (images == NULL) return 1;
  unsigned char* labels = argc >= 4 ? read_idx(argv[3], 1, label_dims, &label_count) : NULL;
  if (argc >= 4 && (labels == NULL || label_dims[0] != dims[0])) {
    if (labels != NULL) fprintf(stderr, "%u labels for %u images\n", label_dims[0], dims[0]);
    free(images);
    free(labels);
    return 1;
  }
  if (argc == 5 && onebit_set_threads(atoi(argv[4])) != ONEBIT_OK) {
    fprintf(stderr, "%s\n", onebit_last_error());
    return 1;
  }

  onebit_program* program = onebit_load(argv[1]);
  if (program == NULL) {
    fprintf(stderr, "%s\n", onebit_last_error());
    free(images);
    free(labels);
    return 2;
  }
  const size_t per_image = (size_t)dims[1] * dims[2];
  const int64_t inputs = onebit_input_size(program), classes = onebit_output_size(program);
  int status = 0;
  if (inputs != (int64_t)per_image) {
    fprintf(stderr, "the program takes %lld values per sample; the images have %zu\n",
            (long long)inputs, per_image);
    status = 1;
  }
  float* x = malloc(sizeof(float) * BATCH * per_image);
  float* logits = malloc(sizeof(float) * BATCH * (size_t)classes);
  size_t correct = 0;
  for (size_t start = 0; status == 0 && start < dims[0]; start += BATCH) {
    const size_t batch = dims[0] - start < BATCH ? dims[0] - start : BATCH;
    for (size_t i = 0; i < batch * per_image; ++i)
      x[i] = (float)images[start * per_image + i] / 255.0f;
    if (onebit_run(program, x, (int64_t)batch, logits) != ONEBIT_OK) {
      fprintf(stderr, "%s\n", onebit_last_error());
      status = 2;
      break;
    }
    for (size_t i = 0; i < batch; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)  /* the first of equal maxima, as numpy's argmax */
        if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      printf("%lld\n", (long long)best);
      if (labels != NULL && labels[start + i] == best) ++correct;
    }
  }
  if (status == 0 && labels != NULL)
    fprintf(stderr, "accuracy %.2f%% on %u images\n", 100.0 * (double)correct / dims[0], dims[0]);
  free(x);
  free(logits);
  free(images);
  free(labels);
  onebit_free(program);
  return status;
}
