#include "executor/loader.h"

#include "executor/program_file.h"

namespace onebit {

namespace {

std::unique_ptr<Program> build(const ProgramFile& file, const std::uint8_t* base,
                               const TensorStore* store, ProgramLimits limits) {
  TensorTable tensors;
  std::vector<std::string> order;
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const TensorEntry& entry = file.tensors[i];
    const void* bytes = store != nullptr ? store->data(i) : base + entry.offset;
    tensors.emplace(entry.name, Tensor(entry.dtype, entry.shape, bytes));
    order.push_back(entry.name);
  }
  return std::make_unique<Program>(file.graph, std::move(tensors), std::move(order), limits);
}

}  // namespace

std::unique_ptr<Program> load_program(const std::string& path, ProgramLimits limits) {
  const LoadedProgram loaded = load_program_file(path);
  try {
    return build(loaded.file, nullptr, &loaded.tensors, limits);
  } catch (const program_error& error) {
    throw program_error(path + ": " + error.what());
  }
}

std::unique_ptr<Program> load_program_memory(const std::uint8_t* data, std::size_t size,
                                             ProgramLimits limits) {
  const ProgramFile file = read_program_file(data, size);
  return build(file, data, nullptr, limits);
}

}  // namespace onebit
