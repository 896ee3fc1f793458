// The errors a program file or graph raises inside the executor: one line naming what was wrong,
// the same words as the Python loader's (src/onebit/runtime/errors.py). program_error (the graph is
// inconsistent or beyond the limits) is a kind of program_file_error (the file is unusable), as
// ProgramError is a ProgramFileError in Python.
#pragma once

#include <stdexcept>
#include <string>

namespace onebit {

class program_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class program_error : public program_file_error {
 public:
  using program_file_error::program_file_error;
};

}  // namespace onebit
