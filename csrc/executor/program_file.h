// The .onebit file: a safetensors file whose header metadata holds the program graph as JSON,
// read and checked exactly as onebit/runtime/format.py reads it (read_header, parse_program,
// payload_digest, load_program): the same checks in the same order, refused with the same
// one-line messages (tests/runtime/test_program_file_native.py compares the two on the fuzzer's
// mutations). This is the base of the C++ executor; until that runs programs, onebit.runtime
// still loads files with format.py.
//
// Layout (safetensors): an 8-byte little-endian header length, the header (UTF-8 JSON: one entry
// {dtype, shape, data_offsets} per tensor, and __metadata__, an object of strings holding
// onebit.format, onebit.graph and onebit.sha256), then the tensor bytes, little-endian, which the
// tensors must tile exactly. Nothing outside [data, data + size) is read.
//
// Alignment: a tensor's offset is whatever the writer chose (safetensors does not align), so its
// bytes may sit at any address in the caller's buffer. The reader only hashes them (byte-wise);
// copy_tensors() copies every tensor into one buffer where each starts on a kTensorAlignment
// boundary, which is what the executor's kernels get. The hosts (x86-64, ARM64) are
// little-endian, as the file is, so the copy is byte for byte.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "executor/program_file_error.h"

namespace onebit {

inline constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{100} << 20;  // safetensors' cap
inline constexpr std::int64_t kMaxDimension = (std::int64_t{1} << 31) - 1;
inline constexpr std::size_t kMaxAxes = 8;
inline constexpr std::size_t kMaxTensors = 65536;
inline constexpr int kProgramVersion = 1;
inline constexpr std::size_t kTensorAlignment = 64;

enum class Dtype { u64, i32, u8, f32 };

struct DtypeInfo {
  const char* name;        // the safetensors header's: "U64"
  const char* numpy_name;  // "uint64" (the messages')
  const char* numpy_str;   // "<u8" (numpy's dtype.str, in the payload checksum)
  std::size_t itemsize;
};

const DtypeInfo& dtype_info(Dtype dtype);

struct TensorEntry {
  std::string name;
  Dtype dtype;
  std::vector<std::int64_t> shape;
  std::size_t offset;  // of the first byte, from the start of the file
  std::size_t bytes;
};

struct ProgramHeader {
  std::map<std::string, std::string> metadata;
  std::vector<TensorEntry> tensors;  // in file order (by offset)
};

// format.py's read_header: the metadata and the tensors' layout, every entry checked.
ProgramHeader read_program_header(const std::uint8_t* data, std::size_t size);

// format.py's payload_digest over the tensors (any order) of the file `data`: SHA-256 (hex) of
// the graph text's length and bytes, then per tensor in name order the length of the label
// "name\0dtype.str\0shape,comma,joined\0" in code points, the label, and the tensor's bytes.
std::string payload_digest(const std::string& graph_text, const std::vector<TensorEntry>& tensors,
                           const std::uint8_t* data);

struct ProgramFile {
  nlohmann::ordered_json graph;  // checked to be an object of this version; the rest is the
                                 // executor's to check
  std::string graph_text;
  std::map<std::string, std::string> metadata;
  std::vector<TensorEntry> tensors;  // offsets into the buffer that was read
};

// format.py's parse_program: a file's bytes (memory the caller owns and keeps) to its graph and
// tensor layout, with the checksum and the version checked.
ProgramFile read_program_file(const std::uint8_t* data, std::size_t size);

// Every tensor of a program copied out of the file, each at a kTensorAlignment boundary.
class TensorStore {
 public:
  const void* data(std::size_t index) const { return storage_.get() + starts_[index]; }
  void* data(std::size_t index) { return storage_.get() + starts_[index]; }

 private:
  friend TensorStore copy_tensors(const std::uint8_t* file, const std::vector<TensorEntry>&);
  struct Free {
    void operator()(std::uint8_t* p) const noexcept {
      ::operator delete(p, std::align_val_t{kTensorAlignment});
    }
  };
  std::unique_ptr<std::uint8_t[], Free> storage_;
  std::vector<std::size_t> starts_;
};

// The tensors' bytes from the file `file` (which read_program_file checked), in their order.
TensorStore copy_tensors(const std::uint8_t* file, const std::vector<TensorEntry>& tensors);

struct LoadedProgram {
  ProgramFile file;
  TensorStore tensors;  // by the index of file.tensors
};

// format.py's load_program: reads the file at `path` (messages prefixed with the path as given),
// checks it and copies its tensors into aligned storage.
LoadedProgram load_program_file(const std::string& path);

}  // namespace onebit
