/* The least a bare Cortex-M program needs: a vector table, a reset handler that copies .data,
 * clears .bss, turns on the FPU where there is one and calls main, and semihosting (the
 * debugger's channel, which QEMU serves) to print and to exit. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

int ob_semihost(int operation, const void *argument) {
  register int r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static void ob_exit(int status) {
  /* SYS_EXIT: ADP_Stopped_ApplicationExit is success, ADP_Stopped_RunTimeErrorUnknown not. */
  ob_semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026u : 0x20023u));
  for (;;) {
  }
}

void ob_reset(void) {
  const uint32_t *from = &_sidata;
  uint32_t *to;
  for (to = &_sdata; to < &_edata;) *to++ = *from++;
  for (to = &_sbss; to < &_ebss;) *to++ = 0;
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10 and CP11 full access */
  __asm__ volatile("dsb\n\tisb");
#endif
  ob_exit(main());
}

static void ob_fault(void) {
  ob_semihost(0x04, "fault\n");
  ob_exit(1);
}

/* SysTick's 24-bit counter wraps every 2^24 ticks; the harness counts the wraps. */
volatile uint32_t ob_systick_wraps;

static void ob_systick(void) { ++ob_systick_wraps; }

__attribute__((section(".vectors"), used)) static void (*const ob_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)&_estack, ob_reset, ob_fault, ob_fault, ob_fault, ob_fault,
    ob_fault, 0, 0, 0, 0, ob_fault, ob_fault, 0, ob_fault, ob_systick,
};
