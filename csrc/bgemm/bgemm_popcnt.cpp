// bgemm, "popcnt" path: the scalar kernel compiled with -mpopcnt (x86 only).
#define ONEBIT_SCALAR_SUFFIX popcnt
#include "bgemm/bgemm_scalar.h"
