// One step of a program, `output = op(inputs...)`: the base every op shares. It reads the op's
// spec (attributes and tensor roles) with the checks and messages of the Python runtime's Op
// (src/onebit/runtime/ops/base.py), infers the output Value of one sample at load, and runs on a
// batch at call time. An op is immutable once the program is loaded, so one program may run on
// several threads at once.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "errors.h"
#include "executor/python_repr.h"
#include "executor/untrusted_json.h"
#include "pyformat.h"
#include "tensor.h"
#include "value.h"

namespace onebit {

using json = nlohmann::ordered_json;  // keeps the file's key order, as Python's dict does

// A JSON number's value as a double (an integer beyond 64 bits, held as its digits, too); NaN for
// anything else.
inline double json_number(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (is_json_integer(value)) {
    const auto& digits = value.get_binary();
    return std::strtod(std::string(digits.begin(), digits.end()).c_str(), nullptr);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// A JSON number that float32 holds as a finite value (booleans are not numbers here; an integer
// of any length is one).
inline bool is_float32(const json& value) {
  const double x = json_number(value);
  return std::isfinite(x) && std::fabs(x) <= std::numeric_limits<float>::max();
}

// What a running op is given: the batch, the thread count and the SIMD path to use.
struct RunContext {
  std::int64_t batch = 1;
  int threads = 1;
};

class Op {
 public:
  // `spec` is one entry of the graph's "ops" (an object with a string "output" and a list of
  // string "inputs", checked by the program); `arity` the number of inputs, or -1 for one or more.
  Op(const json& spec, const TensorTable& tensors, const char* type, int arity);
  virtual ~Op() = default;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  const std::string& type() const { return type_; }
  const std::string& output() const { return output_; }
  const std::vector<std::string>& inputs() const { return inputs_; }
  const std::set<std::string>& roles_read() const { return roles_read_; }
  std::string where() const { return python_repr(output_) + " (" + type_ + ")"; }

  // The output of one sample given its inputs', every attribute checked against them; sets
  // work() and scratch().
  virtual Value infer(const std::vector<Value>& inputs) = 0;
  // Compute the output of ctx.batch samples into `output` (sized by the program from infer()'s
  // Value) from the inputs (laid out as their Values say).
  virtual void run(const std::vector<const void*>& inputs, void* output,
                   const RunContext& ctx) const = 0;

  // Bytes per sample the op allocates besides its output (exact: a size the plan then refuses
  // may pass 2^63, as the Python runtime's unbounded integers do).
  big_int scratch() const { return scratch_; }
  // Multiply-adds, comparisons or word operations per sample (a double: it may pass 2^63).
  double work() const { return work_; }

  // -- spec readers (public: the epilogues read through them) --------------------------------
  const json& attr(const std::string& name) const;
  bool has_attr(const std::string& name) const { return attrs_->contains(name); }
  bool has_role(const std::string& role) const { return roles_->contains(role); }
  const std::string& tensor_name(const std::string& role) const;
  std::int64_t int_attr(const std::string& name, std::int64_t minimum = 0) const;
  std::vector<std::int64_t> ints_attr(const std::string& name, int count,
                                      std::int64_t minimum = 0) const;
  std::pair<std::int64_t, std::int64_t> pair_attr(const std::string& name,
                                                  std::int64_t minimum = 0) const;
  std::vector<std::int64_t> padding_attr(const std::string& name = "padding") const;
  double float_attr(const std::string& name, const std::vector<double>& allowed = {}) const;
  // The tensor in `role`, checked to have `dtype` and `shape` (-1: any side).
  const Tensor& tensor(const std::string& role, Dtype dtype,
                       const std::optional<Shape>& shape = std::nullopt);
  const Tensor& channel_vector(const std::string& role, std::int64_t channels,
                               Dtype dtype = Dtype::f32) {
    return tensor(role, dtype, Shape{channels});
  }
  // Refuse an input of another kind or rank (`ndim` -1: any).
  void expect(const Value& value, Kind kind, int ndim = -1, const std::string& name = "input") const;

 protected:
  big_int scratch_ = 0;
  double work_ = 0.0;

 private:
  std::string type_;
  std::string output_;
  std::vector<std::string> inputs_;
  const json* attrs_;
  const json* roles_;
  const TensorTable& tensors_;
  std::set<std::string> roles_read_;
};

// The largest magnitude in a float32 tensor (0 for an empty one).
inline double abs_max(const Tensor& tensor) {
  float largest = 0.0f;
  const float* data = tensor.data<float>();
  for (std::int64_t i = 0; i < tensor.elements(); ++i) largest = std::fmax(largest, std::fabs(data[i]));
  return largest;
}

}  // namespace onebit
