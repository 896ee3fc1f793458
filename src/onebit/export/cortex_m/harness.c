/* Runs a generated model on the inputs of ob_inputs.h on a bare Cortex-M under QEMU and prints,
 * over semihosting, one line per input: "index prediction ticks logit..." (logits as the hex of
 * their float bits), the ticks of each op of the first inference ("op INDEX TICKS"), then
 * "calibration TICKS LOOPS" for a loop of 2 * LOOPS instructions, so that the host can turn
 * SysTick ticks into instructions (QEMU's -icount makes the clock count them).
 *
 * Compiled with the model's source, -DOB_HEADER='"name.h"' -DOB_RUN=name_run
 * -DOB_OUTPUT_SIZE=NAME_OUTPUT_SIZE and -DONEBIT_OP_HOOK=ob_op_done. */
#include <stdint.h>

#include OB_HEADER
#include "ob_inputs.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TICK_MASK 0x00ffffffu

int ob_semihost(int operation, const void *argument);

static void put(const char *text) { ob_semihost(0x04, text); /* SYS_WRITE0 */ }

static void put_unsigned(uint32_t value, int base) {
  char digits[12];
  int i = 11;
  digits[i] = 0;
  do {
    const uint32_t d = value % (uint32_t)base;
    digits[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    value /= (uint32_t)base;
  } while (value != 0);
  put(&digits[i]);
}

extern volatile uint32_t ob_systick_wraps; /* startup.c's SysTick handler counts them */

/* Ticks since the timer started: the wraps, then the 24-bit down-counter. */
static uint64_t now(void) {
  uint32_t wraps, value;
  do {
    wraps = ob_systick_wraps;
    value = SYST_CVR;
  } while (wraps != ob_systick_wraps);
  return ((uint64_t)wraps << 24) | (TICK_MASK - value);
}

static uint32_t ticks_since(uint64_t start) { return (uint32_t)(now() - start); }

#define MAX_OPS 256
static uint32_t op_ticks[MAX_OPS];
static uint64_t op_start;
static int profiling, op_count;

/* Called by the model after op `index`: the ticks since the previous op ended. */
void ob_op_done(int index);
void ob_op_done(int index) {
  if (profiling && index >= 0 && index < MAX_OPS) {
    op_ticks[index] = ticks_since(op_start);
    op_start = now();
    op_count = index + 1;
  }
}

/* 2 * loops instructions: a flag-setting subtract and a branch per loop. (GCC writes ARMv6-M
 * inline assembly in the old divided syntax, where "sub" on low registers sets the flags.) */
static void spin(uint32_t loops) {
#if defined(__ARM_ARCH_6M__)
  __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+l"(loops) : : "cc");
#else
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+l"(loops) : : "cc");
#endif
}

int main(void) {
  static float output[OB_OUTPUT_SIZE];
  int i, c;
  uint64_t start;
  SYST_RVR = TICK_MASK;
  SYST_CVR = 0;
  SYST_CSR = 7; /* enabled, processor clock, an interrupt at each wrap */
  while (SYST_CVR == 0) {
  } /* the first reload, from the cleared counter, is not a wrap */
  for (i = 0; i < OB_INPUT_COUNT; ++i) {
    int best = 0;
    uint32_t ticks;
    profiling = i == 0;
    start = op_start = now();
    if (OB_RUN(ob_inputs(i), output) != 0) {
      put("run failed\n");
      return 1;
    }
    ticks = ticks_since(start);
    for (c = 1; c < OB_OUTPUT_SIZE; ++c)
      if (output[c] > output[best]) best = c;
    put_unsigned((uint32_t)i, 10);
    put(" ");
    put_unsigned((uint32_t)best, 10);
    put(" ");
    put_unsigned(ticks, 10);
    for (c = 0; c < OB_OUTPUT_SIZE; ++c) {
      union { float f; uint32_t u; } bits;
      bits.f = output[c];
      put(" ");
      put_unsigned(bits.u, 16);
    }
    put("\n");
  }
  for (i = 0; i < op_count; ++i) {
    put("op ");
    put_unsigned((uint32_t)i, 10);
    put(" ");
    put_unsigned(op_ticks[i], 10);
    put("\n");
  }
  start = now();
  spin(1000000u);
  put("calibration ");
  put_unsigned(ticks_since(start), 10);
  put(" 1000000\n");
  return 0;
}
