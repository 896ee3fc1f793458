/* Host harness for a generated model (onebit/export/host.py): reads inputs from stdin (floats,
 * or bytes with the argument "u8"), writes each output's floats to stdout. Compiled with
 * -DOB_HEADER='"name.h"', -DOB_RUN=name_run, -DOB_RUN_U8=name_run_u8 and -DOB_PREFIX=NAME (the
 * upper-case name). */
#include <stdio.h>
#include <string.h>

#include OB_HEADER

#define OB_JOIN(a, b) a##b
#define OB_SIZE(prefix, what) OB_JOIN(prefix, what)
#define INPUT_SIZE OB_SIZE(OB_PREFIX, _INPUT_SIZE)
#define OUTPUT_SIZE OB_SIZE(OB_PREFIX, _OUTPUT_SIZE)

int main(int argc, char **argv) {
  static float input[INPUT_SIZE], output[OUTPUT_SIZE];
  static unsigned char bytes[INPUT_SIZE];
  const int u8 = argc > 1 && strcmp(argv[1], "u8") == 0;
  if (OB_RUN(NULL, output) != -1 || OB_RUN_U8(bytes, NULL) != -1) return 2;
  for (;;) {
    int status;
    if (u8) {
      if (fread(bytes, 1, INPUT_SIZE, stdin) != INPUT_SIZE) break;
      status = OB_RUN_U8(bytes, output);
    } else {
      if (fread(input, sizeof(float), INPUT_SIZE, stdin) != INPUT_SIZE) break;
      status = OB_RUN(input, output);
    }
    if (status != 0) return 1;
    if (fwrite(output, sizeof(float), OUTPUT_SIZE, stdout) != OUTPUT_SIZE) return 1;
  }
  return 0;
}
