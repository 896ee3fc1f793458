// The one error of the .onebit reader: a file that cannot be loaded (missing, unreadable,
// truncated, corrupt, foreign), with one line naming what was wrong, the same line as
// onebit.runtime.errors.ProgramFileError's in the Python loader.
#pragma once

#include <stdexcept>

namespace onebit {

class program_file_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace onebit
