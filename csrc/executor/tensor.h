// A program's tensor: its dtype, shape and elements, copied out of the file into storage aligned
// for its type (safetensors offsets need not be aligned, and the kernels read words in place).
// Copies of a Tensor share that storage (immutable once made): the programs built for each
// setting of a switched program (executor/switches.h) hold its weights once.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/bit_format.h"
#include "executor/program_file.h"

namespace onebit {

// NumPy's name of a dtype ("uint64", ...), as the Python loader's messages print it.
inline const char* dtype_name(Dtype dtype) { return dtype_info(dtype).numpy_name; }

inline std::int64_t dtype_size(Dtype dtype) {
  return static_cast<std::int64_t>(dtype_info(dtype).itemsize);
}

class Tensor {
 public:
  Tensor() = default;
  // A tensor of `dtype` and `shape` holding a copy of `bytes` (elements * dtype_size bytes, in
  // little-endian order, as safetensors stores them; this executor runs on little-endian CPUs).
  Tensor(Dtype dtype, std::vector<std::int64_t> shape, const void* bytes)
      : dtype_(dtype), shape_(std::move(shape)) {
    elements_ = 1;
    for (std::int64_t side : shape_) elements_ *= side;  // sides and count checked by the reader
    const std::size_t size = static_cast<std::size_t>(elements_ * dtype_size(dtype_));
    auto storage = std::make_shared<std::vector<word_t>>((size + sizeof(word_t) - 1) / sizeof(word_t));
    if (size) std::memcpy(storage->data(), bytes, size);
    storage_ = std::move(storage);
  }

  Dtype dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  std::int64_t ndim() const { return static_cast<std::int64_t>(shape_.size()); }
  std::int64_t elements() const { return elements_; }
  std::int64_t nbytes() const { return elements_ * dtype_size(dtype_); }
  template <class T>
  const T* data() const {
    return storage_ ? reinterpret_cast<const T*>(storage_->data()) : nullptr;
  }

 private:
  Dtype dtype_ = Dtype::f32;
  std::vector<std::int64_t> shape_;
  std::int64_t elements_ = 0;
  std::shared_ptr<const std::vector<word_t>> storage_;  // word-aligned for every dtype
};

using TensorTable = std::map<std::string, Tensor>;

}  // namespace onebit
