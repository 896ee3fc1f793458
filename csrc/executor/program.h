// A loaded program: the graph's ops, validated and planned, runnable on float batches.
//
// Building one validates the whole graph with the rules and messages of the Python runtime's
// Program (src/onebit/runtime/program.py): JSON types, every op's attributes against the shapes
// they imply (each value's per-sample shape inferred, every size capped at 2^31-1), tensor shapes
// and dtypes, finite float parameters that keep every value finite for inputs within
// ±kInputBound, and the memory and work a call needs. A program holds no per-call state but the
// arenas its calls keep for the next ones (value_arena.h): one loaded program may run on several
// threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "op.h"
#include "switches.h"
#include "value_arena.h"

namespace onebit {

inline constexpr std::int64_t kDefaultMaxMemory = std::int64_t{4} << 30;
inline constexpr std::int64_t kDefaultMaxWork = std::int64_t{1} << 36;
inline constexpr std::size_t kMaxOps = 65536;

struct ProgramLimits {
  std::int64_t max_memory = kDefaultMaxMemory;  // bytes of a call's values at batch 1
  std::int64_t max_work = kDefaultMaxWork;      // operations per sample
};

class Program {
 public:
  // `tensor_order`: the tensors' names in the file's order (the order the checks visit them).
  // `bits`: one option per switch of a switched program (executor/switches.h), or empty for the
  // defaults; the ops are those of that setting.
  Program(json graph, TensorTable tensors, std::vector<std::string> tensor_order,
          ProgramLimits limits = {}, const std::vector<std::int64_t>& bits = {});
  // The same program at another setting, built and checked anew over the same tensors.
  std::unique_ptr<Program> with_bits(const std::vector<std::int64_t>& bits) const {
    return std::make_unique<Program>(graph_, tensors_, tensor_order_, limits_, bits);
  }
  // Its ops hold references into its graph and tensors: a program stays where it was built.
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  const Shape& input_shape() const { return input_shape_; }
  // The input's kind: float32, or tokens (the graph's input says "kind": "tokens").
  Kind input_kind() const { return input_kind_; }
  const Shape& output_shape() const { return output_->shape; }
  Kind output_kind() const { return output_->kind; }
  std::int64_t input_elements() const { return product_of(input_shape_); }
  std::int64_t output_elements() const { return product_of(output_->shape); }
  const std::vector<std::unique_ptr<Op>>& ops() const { return ops_; }
  const json& metadata() const { return metadata_; }
  // The graph as given (switches and variants included) and the plain graph of this setting.
  const json& graph() const { return graph_; }
  const json& setting_graph() const { return switches_.empty() ? graph_ : setting_graph_; }
  const std::vector<Switch>& switches() const { return switches_; }
  const std::vector<std::int64_t>& bits() const { return bits_; }
  const TensorTable& tensors() const { return tensors_; }
  // The tensors' names in the file's order.
  const std::vector<std::string>& tensor_order() const { return tensor_order_; }
  big_int peak_bytes() const { return peak_bytes_; }
  double work() const { return work_; }
  ProgramLimits limits() const { return limits_; }
  // Peak bytes of the values and scratch of one call on `batch` samples (tensors not included).
  big_int memory_needed(std::int64_t batch) const { return big_int{batch} * peak_bytes_; }

  // Runs `batch` samples: x holds batch * input_elements() float32 values in torch's layout,
  // `out` receives batch * output_elements() values of output_kind() (float32 for classifiers).
  // Refuses (onebit::input_error) inputs that are not finite or beyond ±kInputBound and batches
  // beyond the memory limit, before any work; token ids are checked by the embedding that reads
  // them (an input_error naming the sample and position).
  // With `op_seconds` (one entry per op), each op's wall time is added to its entry.
  void run(const float* x, std::int64_t batch, void* out, int threads,
           std::vector<double>* op_seconds = nullptr) const;
  // A value's per-sample kind and shape, by name (the input's or an op's output).
  const Value& value(const std::string& name) const { return values_.at(name); }

 private:
  static std::int64_t product_of(const Shape& shape);
  std::unique_ptr<Op> build(std::size_t index, const json& spec);
  void plan();

  json graph_, setting_graph_;
  std::vector<Switch> switches_;
  std::vector<std::int64_t> bits_;
  TensorTable tensors_;
  std::vector<std::string> tensor_order_;
  ProgramLimits limits_;
  json metadata_;
  std::string input_name_;
  Shape input_shape_;
  Kind input_kind_ = Kind::float32;
  std::string output_name_;
  std::map<std::string, Value> values_;
  const Value* output_ = nullptr;
  std::vector<std::unique_ptr<Op>> ops_;
  // The run plan in value slots (0: the input, i + 1: op i's output): what each op reads, each
  // slot's bytes per sample and the output's slot.
  std::vector<std::vector<std::size_t>> input_slots_;
  std::vector<std::int64_t> slot_bytes_;
  // The last op that reads each slot (its writer's index when none does; past the last op for
  // the output), for placing the values of a call in one arena (value_arena.h).
  std::vector<std::size_t> slot_last_;
  mutable ArenaCache arenas_;
  std::size_t output_slot_ = 0;
  std::int64_t expanded_bytes_ = 0;
  big_int peak_bytes_ = 0, largest_buffer_ = 0;
  double work_ = 0;
};

// A call's input or batch is refused (the OnebitError of the Python runtime, not a file error).
class input_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

}  // namespace onebit
