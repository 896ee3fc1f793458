// A program from a .onebit file or its bytes: the file reader (program_file.h) checks the file,
// then the Program checks the graph (onebit.runtime.load: a graph error is prefixed with the
// path, as the file's own errors are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "executor/program.h"

namespace onebit {

std::unique_ptr<Program> load_program(const std::string& path, ProgramLimits limits = {});
std::unique_ptr<Program> load_program_memory(const std::uint8_t* data, std::size_t size,
                                             ProgramLimits limits = {});

}  // namespace onebit
