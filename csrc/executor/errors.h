// The errors a program raises inside the executor, one line naming what was wrong in the words of
// the Python loader (src/onebit/runtime/errors.py): program_file_error (the file is unusable,
// executor/program_file_error.h) and program_error, the graph is inconsistent or beyond the
// limits, a kind of it, as ProgramError is a ProgramFileError in Python.
#pragma once

#include "executor/program_file_error.h"

namespace onebit {

class program_error : public program_file_error {
 public:
  using program_file_error::program_file_error;
};

}  // namespace onebit
