#include "op.h"


namespace onebit {

namespace {

const json& empty_object() {
  static const json object = json::object();
  return object;
}

bool is_int_in(const json& value, std::int64_t minimum) {
  std::int64_t out = 0;
  return json_integer_in(value, minimum, kMaxSize, out);
}

}  // namespace

Op::Op(const json& spec, const TensorTable& tensors, const char* type, int arity)
    : type_(type), tensors_(tensors) {
  output_ = spec.at("output").get<std::string>();
  for (const json& name : spec.at("inputs")) inputs_.push_back(name.get<std::string>());
  attrs_ = spec.contains("attrs") ? &spec["attrs"] : &empty_object();
  roles_ = spec.contains("tensors") ? &spec["tensors"] : &empty_object();
  if (!attrs_->is_object() || !roles_->is_object())
    throw program_error("op " + where() + ": 'attrs' and 'tensors' must be objects");
  if (arity >= 0 && static_cast<int>(inputs_.size()) != arity)
    throw program_error("op " + where() + " takes " + std::to_string(arity) + " input(s)");
  if (inputs_.empty()) throw program_error("op " + where() + " needs at least one input");
}

const json& Op::attr(const std::string& name) const {
  static const json null_value;
  const auto found = attrs_->find(name);
  return found == attrs_->end() ? null_value : *found;
}

const std::string& Op::tensor_name(const std::string& role) const {
  return roles_->at(role).get_ref<const std::string&>();
}

std::int64_t Op::int_attr(const std::string& name, std::int64_t minimum) const {
  const json& value = attr(name);
  if (!is_int_in(value, minimum))
    throw program_error("op " + where() + ": " + name + " must be an integer >= " +
                        std::to_string(minimum) + ", < 2^31");
  return value.get<std::int64_t>();
}

std::vector<std::int64_t> Op::ints_attr(const std::string& name, int count,
                                        std::int64_t minimum) const {
  const json& value = attr(name);
  bool ok = value.is_array() && static_cast<int>(value.size()) == count;
  for (std::size_t i = 0; ok && i < value.size(); ++i) ok = is_int_in(value[i], minimum);
  if (!ok) {
    const std::string number = count == 2 ? "two" : count == 4 ? "four" : std::to_string(count);
    throw program_error("op " + where() + ": " + name + " must be " + number + " integers >= " +
                        std::to_string(minimum) + ", < 2^31");
  }
  std::vector<std::int64_t> out;
  for (const json& v : value) out.push_back(v.get<std::int64_t>());
  return out;
}

std::pair<std::int64_t, std::int64_t> Op::pair_attr(const std::string& name,
                                                    std::int64_t minimum) const {
  const auto values = ints_attr(name, 2, minimum);
  return {values[0], values[1]};
}

std::vector<std::int64_t> Op::padding_attr(const std::string& name) const {
  const json& value = attr(name);
  if (value.is_array() && value.size() == 4) return ints_attr(name, 4);
  const auto [ph, pw] = pair_attr(name, 0);
  return {ph, ph, pw, pw};
}

double Op::float_attr(const std::string& name, const std::vector<double>& allowed) const {
  const json& value = attr(name);
  if (!is_float32(value))
    throw program_error("op " + where() + ": " + name +
                        " must be a finite number within float32 range");
  const double x = json_number(value);
  if (!allowed.empty()) {
    bool found = false;
    std::string listed = "[";
    for (std::size_t i = 0; i < allowed.size(); ++i) {
      found = found || x == allowed[i];
      listed += (i ? ", " : "") + python_float_repr(allowed[i]);
    }
    if (!found)
      throw program_error("op " + where() + ": " + name + " must be one of " + listed + "]");
  }
  return x;
}

const Tensor& Op::tensor(const std::string& role, Dtype dtype, const std::optional<Shape>& shape) {
  const auto found = roles_->find(role);
  const auto named = found != roles_->end() && found->is_string()
                         ? tensors_.find(found->get_ref<const std::string&>())
                         : tensors_.end();
  if (named == tensors_.end())
    throw program_error("op " + where() + ": tensor " + python_repr(role) + " is missing");
  roles_read_.insert(role);
  const Tensor& array = named->second;
  if (array.dtype() != dtype)
    throw program_error("op " + where() + ": tensor " + python_repr(role) + " must be " +
                        dtype_name(dtype));
  if (shape) {
    bool ok = array.ndim() == static_cast<std::int64_t>(shape->size());
    for (std::size_t i = 0; ok && i < shape->size(); ++i)
      ok = (*shape)[i] < 0 || (*shape)[i] == array.shape()[i];
    if (!ok) {
      std::string expected = "(";
      for (std::size_t i = 0; i < shape->size(); ++i)
        expected += (i ? ", " : "") + ((*shape)[i] < 0 ? std::string("'?'") : std::to_string((*shape)[i]));
      expected += shape->size() == 1 ? ",)" : ")";
      throw program_error("op " + where() + ": tensor " + python_repr(role) + " has shape " +
                          pyformat::tuple(array.shape()) + ", expected " + expected);
    }
  }
  return array;
}

void Op::expect(const Value& value, Kind kind, int ndim, const std::string& name) const {
  if (value.kind != kind || (ndim >= 0 && static_cast<int>(value.shape.size()) != ndim)) {
    const std::string rank = ndim >= 0 ? std::to_string(ndim) + "-axis " : "";
    throw program_error("op " + where() + ": its " + name + " must be a " + rank +
                        kind_name(kind) + " value per sample, got " + value.describe());
  }
}

}  // namespace onebit
