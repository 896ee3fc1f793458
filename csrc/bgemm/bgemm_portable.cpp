// bgemm, portable path: plain C++ with __builtin_popcountll; compiled with no target flags, so it
// runs on any CPU: the baseline every other path is tested against.
#define ONEBIT_SCALAR_SUFFIX portable
#include "bgemm/bgemm_scalar.h"
