#include "program.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <set>

#include "executor/untrusted_json.h"
#include "executor/utf8.h"
#include "registry.h"

namespace onebit {

namespace {

bool is_string_list(const json& value) {
  return value.is_array() &&
         std::all_of(value.begin(), value.end(), [](const json& v) { return v.is_string(); });
}

std::string names_repr(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + python_repr(names[i]);
  return out + "]";
}

// Refuse float inputs that are not finite or beyond ±kInputBound.
void check_input(const float* x, std::int64_t count) {
  float low = x[0], high = x[0];
  bool nan = false;
  for (std::int64_t i = 0; i < count; ++i) {
    nan = nan || std::isnan(x[i]);
    low = std::min(low, x[i]);
    high = std::max(high, x[i]);
  }
  if (nan || !(low >= -kInputBound && high <= kInputBound)) {
    const double worst = nan ? NAN : std::fabs(high) >= std::fabs(low) ? high : low;
    throw input_error("input values must be finite and within ±" + pyformat::number(kInputBound) +
                      ", got " + pyformat::number(worst));
  }
}

}  // namespace

std::int64_t Program::product_of(const Shape& shape) {
  std::int64_t total = 1;
  for (std::int64_t side : shape) total *= side;
  return total;
}

Program::Program(json graph, TensorTable tensors, std::vector<std::string> tensor_order,
                 ProgramLimits limits, const std::vector<std::int64_t>& bits)
    : graph_(std::move(graph)),
      tensors_(std::move(tensors)),
      tensor_order_(std::move(tensor_order)),
      limits_(limits) {
  if (!graph_.is_object()) throw program_error("the program graph must be an object");
  if (tensors_.size() > kMaxTensors)
    throw program_error("the program has " + std::to_string(tensors_.size()) +
                        " tensors, more than " + std::to_string(kMaxTensors));
  for (const std::string& name : tensor_order_) {
    const Tensor& tensor = tensors_.at(name);
    if (tensor.dtype() != Dtype::f32) continue;
    const float* data = tensor.data<float>();
    if (!std::all_of(data, data + tensor.elements(), [](float x) { return std::isfinite(x); }))
      throw program_error("tensor " + python_repr(name) + " holds non-finite values (inf or NaN)");
  }
  std::set<std::string> used = variant_tensors(graph_, tensors_);
  switches_ = parse_switches(graph_);
  bits_ = setting_of(switches_, bits);
  if (!switches_.empty()) setting_graph_ = resolve_switches(graph_, bits_);
  const json& g = setting_graph();  // the ops keep pointers into it: a member
  const json input = g.contains("input") ? g["input"] : json();
  if (!input.is_object() || !input.contains("shape") || !input["shape"].is_array())
    throw program_error("the program graph needs an input with a shape");
  const json& shape = input["shape"];
  bool shape_ok = !shape.empty() && shape.size() <= kMaxAxes;
  for (const json& side : shape)
    shape_ok = shape_ok && (side.is_number_unsigned()
                                ? side.get<std::uint64_t>() - 1 < std::uint64_t(kMaxSize)
                                : side.is_number_integer() && side.get<std::int64_t>() > 0 &&
                                      side.get<std::int64_t>() <= kMaxSize);
  if (!shape_ok) {
    json first = json::array();
    for (std::size_t i = 0; i < shape.size() && i < 8; ++i) first.push_back(shape[i]);
    throw program_error("the input shape " + python_repr_json(first) + " is not 1 to " +
                        std::to_string(kMaxAxes) + " positive integers");
  }
  for (const json& side : shape) input_shape_.push_back(side.get<std::int64_t>());
  product(input_shape_, "the input's element count", "'input'");
  const json name = input.contains("name") ? input["name"] : json("input");
  if (!name.is_string()) throw program_error("the input's name must be a string");
  input_name_ = name.get<std::string>();
  const json kind = input.contains("kind") ? input["kind"] : json("float");
  if (kind != "float" && kind != "tokens")
    throw program_error("the input's kind must be 'float' or 'tokens'");
  input_kind_ = kind == "tokens" ? Kind::tokens : Kind::float32;
  metadata_ = g.contains("metadata") ? g["metadata"] : json::object();
  if (!metadata_.is_object()) throw program_error("the program's metadata must be an object");
  const json& op_specs = g.contains("ops") ? g["ops"] : json();
  if (!op_specs.is_array() || op_specs.empty())
    throw program_error("the program graph has no ops");
  if (op_specs.size() > kMaxOps)
    throw program_error("the program graph has " + std::to_string(op_specs.size()) +
                        " ops, more than " + std::to_string(kMaxOps));
  values_[input_name_] =  // token ids: below 2^24, each checked by the op that reads it
      input_kind_ == Kind::tokens
          ? Value{Kind::tokens, input_shape_, input_shape_.back(), double(kMaxTokenId), 0}
          : Value{Kind::float32, input_shape_, input_shape_.back(), kInputBound, 0};
  for (std::size_t index = 0; index < op_specs.size(); ++index) {
    ops_.push_back(build(index, op_specs[index]));
    if (op_specs[index].contains("tensors"))
      for (const json& tensor : op_specs[index]["tensors"]) used.insert(tensor.get<std::string>());
  }
  const json output = g.contains("output") ? g["output"] : json();
  if (!output.is_string() || !values_.count(output.get<std::string>()))
    throw program_error("the program's output " + python_repr_json(output) + " is never computed");
  output_name_ = output.get<std::string>();
  output_ = &values_.at(output_name_);
  std::vector<std::string> unused;
  for (const auto& entry : tensors_)
    if (!used.count(entry.first)) unused.push_back(entry.first);  // sorted: a std::map
  if (!unused.empty()) {
    unused.resize(std::min<std::size_t>(unused.size(), 5));
    throw program_error("the file holds tensors no op uses: " + names_repr(unused));
  }
  plan();
}

std::unique_ptr<Op> Program::build(std::size_t index, const json& spec) {
  const std::string number = "op #" + std::to_string(index);
  if (!spec.is_object()) throw program_error(number + " is not an object");
  if (!spec.contains("output") || !spec["output"].is_string())
    throw program_error(number + " needs an output name (a string)");
  const std::string output = spec["output"].get<std::string>();
  const std::string named = number + " (" + python_repr(output) + ")";
  if (!spec.contains("inputs") || !is_string_list(spec["inputs"]))
    throw program_error(named + ": inputs must be a list of value names (strings)");
  std::vector<std::string> missing;
  for (const json& input : spec["inputs"])
    if (!values_.count(input.get<std::string>())) missing.push_back(input.get<std::string>());
  if (!missing.empty()) {
    missing.resize(std::min<std::size_t>(missing.size(), 5));
    throw program_error(named + " reads " + names_repr(missing) + " before they exist");
  }
  if (values_.count(output))
    throw program_error(number + " redefines value " + python_repr(output));
  if (!spec.contains("type") || !spec["type"].is_string() ||
      utf8_length(spec["type"].get<std::string>()) > 64)
    throw program_error(named + ": its type must be an op name");
  const std::string type = spec["type"].get<std::string>();
  const auto factory = op_factories().find(type);
  if (factory == op_factories().end()) throw program_error(number + ": " + unknown_op_message(type));
  const json roles = spec.contains("tensors") ? spec["tensors"] : json::object();
  if (!roles.is_object() ||
      !std::all_of(roles.begin(), roles.end(), [](const json& v) { return v.is_string(); }))
    throw program_error(named + ": tensors must map roles to names");
  for (auto role = roles.begin(); role != roles.end(); ++role)
    if (!tensors_.count(role.value().get<std::string>()))
      throw program_error(named + ": tensor " + role.key() + "=" +
                          python_repr(role.value().get<std::string>()) + " is missing");
  if (roles.contains("weight_bits")) {  // float layers unpack these to 32 bits per weight at load
    expanded_bytes_ += 32 * tensors_.at(roles["weight_bits"].get<std::string>()).nbytes();
    if (expanded_bytes_ > limits_.max_memory)
      throw program_error(named + ": its unpacked weights pass the memory limit " +
                          std::to_string(limits_.max_memory) + " (max_memory / ONEBIT_MAX_MEMORY)");
  }
  std::unique_ptr<Op> op = factory->second(spec, tensors_);
  std::vector<std::string> unread;
  for (auto role = roles.begin(); role != roles.end(); ++role)
    if (!op->roles_read().count(role.key())) unread.push_back(role.key());
  if (!unread.empty()) {
    std::sort(unread.begin(), unread.end());
    throw program_error("op " + op->where() + ": it has no tensor role " + python_repr(unread[0]));
  }
  std::vector<Value> inputs;
  for (const std::string& name : op->inputs()) inputs.push_back(values_.at(name));
  values_[output] = op->infer(inputs);
  return op;
}

void Program::plan() {
  std::map<std::string, std::size_t> slot{{input_name_, 0}}, last_read;
  slot_bytes_ = {values_.at(input_name_).nbytes()};
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    input_slots_.emplace_back();
    for (const std::string& name : ops_[i]->inputs()) {
      input_slots_.back().push_back(slot.at(name));
      last_read[name] = i;
    }
    slot[ops_[i]->output()] = i + 1;
    slot_bytes_.push_back(values_.at(ops_[i]->output()).nbytes());
  }
  output_slot_ = slot.at(output_name_);
  std::vector<std::vector<std::string>> last_reads(ops_.size());
  slot_last_.assign(slot_bytes_.size(), 0);
  for (std::size_t s = 1; s < slot_bytes_.size(); ++s) slot_last_[s] = s - 1;
  for (const auto& [name, i] : last_read) {
    if (name == output_name_) continue;
    last_reads[i].push_back(name);
    slot_last_[slot.at(name)] = i;
  }
  slot_last_[output_slot_] = ops_.size();
  const Value& input = values_.at(input_name_);
  big_int live = input.nbytes(), peak = live, largest = input.elements();
  double work = 0;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    const Value& output = values_.at(ops_[i]->output());
    peak = std::max(peak, live + output.nbytes() + ops_[i]->scratch());
    largest = std::max({largest, big_int{output.elements()}, ops_[i]->scratch() / 4});
    work += std::max(ops_[i]->work(), double(output.elements()));
    live += output.nbytes();
    for (const std::string& name : last_reads[i]) live -= values_.at(name).nbytes();
  }
  peak_bytes_ = peak;
  largest_buffer_ = largest;
  work_ = work;
  if (work_ > double(limits_.max_work))
    throw program_error("the program needs " + pyformat::number(work_, 3) +
                        " operations per sample, above the limit " +
                        pyformat::number(double(limits_.max_work), 3) + " (ONEBIT_MAX_WORK)");
  if (memory_needed(1) > limits_.max_memory)
    throw program_error("the program needs " + big_text(memory_needed(1)) +
                        " bytes at batch 1, above the limit " + std::to_string(limits_.max_memory) +
                        " (max_memory / ONEBIT_MAX_MEMORY)");
  if (output_->kind == Kind::tokens)
    throw program_error("the program's output is its token ids: no op computes it");
}

void Program::run(const float* x, std::int64_t batch, void* out, int threads,
                  std::vector<double>* op_seconds) const {
  if (batch < 0) throw input_error("the batch size must be >= 0, got " + std::to_string(batch));
  if (batch == 0) return;
  if (memory_needed(batch) > limits_.max_memory || big_int{batch} * largest_buffer_ > kMaxSize)
    throw input_error("a batch of " + std::to_string(batch) + " needs " +
                      big_text(memory_needed(batch)) + " bytes (limit " +
                      std::to_string(limits_.max_memory) +
                      ") or a buffer over 2^31-1 elements; split the batch");
  if (input_kind_ == Kind::float32) check_input(x, batch * input_elements());
  if (op_seconds != nullptr) op_seconds->resize(ops_.size(), 0.0);
  const RunContext ctx{batch, threads};
  // The last op writes the output straight into `out`; every other value lives in the arena.
  const bool direct_output = output_slot_ == ops_.size();
  std::vector<ValueLifetime> lifetimes;
  lifetimes.reserve(ops_.size());
  for (std::size_t s = 1; s <= ops_.size(); ++s)
    if (!(direct_output && s == output_slot_))
      lifetimes.push_back({batch * slot_bytes_[s], s - 1, slot_last_[s]});
  const ValuePlacement placement = place_values(lifetimes);
  const ArenaCache::Lease arena(arenas_, placement.arena_bytes);
  std::vector<const void*> value(slot_bytes_.size(), nullptr);
  value[0] = x;
  std::vector<const void*> inputs;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    inputs.clear();
    for (std::size_t s : input_slots_[i]) inputs.push_back(value[s]);
    void* target = out;
    if (!(direct_output && i + 1 == output_slot_))
      target = arena.data() + placement.offsets[i];
    if (op_seconds != nullptr) {
      const auto started = std::chrono::steady_clock::now();
      ops_[i]->run(inputs, target, ctx);
      (*op_seconds)[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    } else {
      ops_[i]->run(inputs, target, ctx);
    }
    value[i + 1] = target;
  }
  if (value[output_slot_] != out)
    std::memcpy(out, value[output_slot_], static_cast<std::size_t>(batch * output_->nbytes()));
}

}  // namespace onebit
