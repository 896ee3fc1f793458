// The .onebit file reader (see program_file.h); each check mirrors a line of format.py.
#include "executor/program_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <new>
#include <tuple>
#include <utility>

#include "common/checked.h"
#include "executor/python_repr.h"
#include "executor/sha256.h"
#include "executor/untrusted_json.h"
#include "executor/utf8.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the .onebit reader copies little-endian tensor bytes as they are");

namespace onebit {
namespace {

const char kFormatKey[] = "onebit.format";
const char kGraphKey[] = "onebit.graph";
const char kDigestKey[] = "onebit.sha256";
const char kFormat[] = "onebit-program";
const char kDtypeNames[] = "['F32', 'I32', 'U64', 'U8']";  // Python's sorted(DTYPES)

const DtypeInfo kDtypes[] = {
    {"U64", "uint64", "<u8", 8},
    {"I32", "int32", "<i4", 4},
    {"U8", "uint8", "|u1", 1},
    {"F32", "float32", "<f4", 4},
};

// Ordered, so that the header's entries are checked in file order (and an odd value prints as
// Python prints it); untrusted_json.h keeps building one linear in its keys.
using Json = nlohmann::ordered_json;

std::string shape_text(const std::vector<std::int64_t>& shape, const char* separator) {
  std::string text;
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += (i ? separator : "") + std::to_string(shape[i]);
  return text;
}

const Json* find(const Json& object, const std::string& key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

Dtype entry_dtype(const std::string& name, const Json& entry) {
  const Json* value = find(entry, "dtype");
  if (value != nullptr && value->is_string())
    for (std::size_t i = 0; i < 4; ++i)
      if (value->get_ref<const std::string&>() == kDtypes[i].name) return static_cast<Dtype>(i);
  throw program_file_error("tensor " + python_repr(name) + " has dtype " +
                           (value == nullptr ? "None" : python_repr_json(*value)) +
                           ", not one of " + kDtypeNames);
}

std::vector<std::int64_t> entry_shape(const std::string& name, const Json& entry) {
  const Json* shape = find(entry, "shape");
  std::vector<std::int64_t> sides;
  bool valid = shape != nullptr && shape->is_array() && shape->size() <= kMaxAxes;
  for (std::size_t i = 0; valid && i < shape->size(); ++i) {
    std::int64_t side = 0;
    valid = json_integer_in((*shape)[i], 0, kMaxDimension, side);
    sides.push_back(side);
  }
  if (!valid)
    throw program_file_error("tensor " + python_repr(name) + ": shape must be a list of at most " +
                             std::to_string(kMaxAxes) + " integers in [0, 2^31)");
  return sides;
}

// Occurrences of `needle` in [begin, end) that do not overlap (Python's bytes.count).
std::size_t count_occurrences(const std::uint8_t* begin, const std::uint8_t* end,
                              const std::string& needle) {
  std::size_t count = 0;
  for (const std::uint8_t* at = begin;;) {
    at = std::search(at, end, needle.begin(), needle.end());
    if (at == end) return count;
    ++count;
    at += needle.size();
  }
}

struct Span {
  std::int64_t begin, end;
  std::string name;
  std::size_t index;  // in the list of entries
};

}  // namespace

const DtypeInfo& dtype_info(Dtype dtype) { return kDtypes[static_cast<std::size_t>(dtype)]; }

ProgramHeader read_program_header(const std::uint8_t* data, std::size_t size) {
  if (size < 8) throw program_file_error("the file is too short for a safetensors header");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | data[i];
  if (header_size > kMaxHeaderBytes || header_size > size - 8)
    throw program_file_error("the header length " + std::to_string(header_size) +
                             " runs past the end of the file");
  const std::uint8_t* text_begin = data + 8;
  const std::uint8_t* text_end = text_begin + header_size;
  if (!is_valid_utf8(text_begin, header_size))
    throw program_file_error("the header is not UTF-8 text");
  // Every tensor entry spells this key, so its count bounds the entries' before parsing.
  const std::size_t listed = count_occurrences(text_begin, text_end, "\"data_offsets\"");
  if (listed > kMaxTensors + 1)
    throw program_file_error("the header lists " + std::to_string(listed) +
                             " tensor entries, more than " + std::to_string(kMaxTensors) +
                             " tensors");
  const Json header =
      parse_untrusted_json<Json>(std::string(text_begin, text_end), "the safetensors header");
  if (!header.is_object())
    throw program_file_error("the safetensors header is not a JSON object");
  if (header.size() > kMaxTensors + 1)
    throw program_file_error("the header lists " + std::to_string(header.size()) +
                             " entries, more than " + std::to_string(kMaxTensors) + " tensors");
  ProgramHeader result;
  if (const Json* metadata = find(header, "__metadata__")) {
    bool strings = metadata->is_object();
    for (auto it = metadata->begin(); strings && it != metadata->end(); ++it)
      strings = it.value().is_string();
    if (!strings)
      throw program_file_error("the header's __metadata__ must be an object of strings");
    for (auto it = metadata->begin(); it != metadata->end(); ++it)
      result.metadata.emplace(it.key(), it.value().get<std::string>());
  }
  const auto file_size = static_cast<std::int64_t>(size);
  std::vector<TensorEntry> entries;
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const Json& entry = it.value();
    if (!entry.is_object())
      throw program_file_error("tensor " + python_repr(name) +
                               ": its header entry is not an object");
    const Dtype dtype = entry_dtype(name, entry);
    std::vector<std::int64_t> shape = entry_shape(name, entry);
    const Json* offsets = find(entry, "data_offsets");
    std::int64_t begin = 0, end = 0;
    if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2 ||
        !json_integer_in((*offsets)[0], 0, file_size, begin) ||
        !json_integer_in((*offsets)[1], 0, file_size, end))
      throw program_file_error("tensor " + python_repr(name) +
                               ": data_offsets must be two byte offsets");
    // The element count saturates: every side is below 2^31, and a count beyond the file's
    // bytes cannot match the offsets anyway.
    std::int64_t count = 1;
    for (const std::int64_t side : shape) count = saturating_mul(count, side);
    const std::int64_t bytes =
        saturating_mul(count, static_cast<std::int64_t>(dtype_info(dtype).itemsize));
    if (end - begin != bytes)
      throw program_file_error("tensor " + python_repr(name) + ": data_offsets [" +
                               std::to_string(begin) + ", " + std::to_string(end) +
                               "] do not hold a " + dtype_info(dtype).numpy_name + " [" +
                               shape_text(shape, ", ") + "] tensor");
    spans.push_back({begin, end, name, entries.size()});
    entries.push_back({name, dtype, std::move(shape), 0, static_cast<std::size_t>(bytes)});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::int64_t end = 0;
  for (const Span& span : spans) {
    if (span.begin != end)
      throw program_file_error("tensor " + python_repr(span.name) +
                               " overlaps another or leaves a gap before it");
    end = span.end;
  }
  // 8 + header + end <= 2 x file size: no overflow.
  const std::int64_t tensors_end = 8 + static_cast<std::int64_t>(header_size) + end;
  if (tensors_end != file_size)
    throw program_file_error("the tensors end at byte " + std::to_string(tensors_end) +
                             " but the file has " + std::to_string(file_size) + " bytes");
  for (const Span& span : spans) {
    TensorEntry& entry = entries[span.index];
    entry.offset = static_cast<std::size_t>(8 + static_cast<std::int64_t>(header_size) + span.begin);
    result.tensors.push_back(std::move(entry));
  }
  return result;
}

std::string payload_digest(const std::string& graph_text, const std::vector<TensorEntry>& tensors,
                           const std::uint8_t* data) {
  Sha256 digest;
  const auto update_length = [&](std::uint64_t length) {
    std::uint8_t bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(length >> (8 * i));
    digest.update(bytes, 8);
  };
  update_length(graph_text.size());
  digest.update(graph_text.data(), graph_text.size());
  std::vector<const TensorEntry*> by_name;
  for (const TensorEntry& tensor : tensors) by_name.push_back(&tensor);
  // Python sorts names by code point; UTF-8 byte order is the same order.
  std::sort(by_name.begin(), by_name.end(),
            [](const TensorEntry* a, const TensorEntry* b) { return a->name < b->name; });
  for (const TensorEntry* tensor : by_name) {
    std::string label = tensor->name;
    label += '\0';
    label += dtype_info(tensor->dtype).numpy_str;
    label += '\0';
    label += shape_text(tensor->shape, ",");
    label += '\0';
    update_length(utf8_length(label));
    digest.update(label.data(), label.size());
    digest.update(data + tensor->offset, tensor->bytes);
  }
  return digest.finish_hex();
}

ProgramFile read_program_file(const std::uint8_t* data, std::size_t size) {
  ProgramHeader header;
  try {
    header = read_program_header(data, size);
  } catch (const program_file_error& error) {
    throw program_file_error(std::string("not a readable onebit program: ") + error.what());
  }
  const auto format = header.metadata.find(kFormatKey);
  if (format == header.metadata.end() || format->second != kFormat)
    throw program_file_error("not a onebit program (no onebit header)");
  const auto graph_text = header.metadata.find(kGraphKey);
  if (graph_text == header.metadata.end())
    throw program_file_error("the program graph is missing");
  const auto expected = header.metadata.find(kDigestKey);
  if (expected == header.metadata.end())
    throw program_file_error(std::string("the file has no checksum (") + kDigestKey +
                             "); convert the model again");
  if (payload_digest(graph_text->second, header.tensors, data) != expected->second)
    throw program_file_error(
        "the graph or tensor data does not match its checksum (corrupt file)");
  ProgramFile program;
  program.graph = parse_untrusted_json<nlohmann::ordered_json>(graph_text->second,
                                                               "the program graph");
  if (!program.graph.is_object())
    throw program_file_error("the program graph is not a JSON object");
  // Python's graph.get("version") != 1: 1, 1.0 and true are equal to 1.
  const auto version = program.graph.find("version");
  const bool supported =
      version != program.graph.end() &&
      ((version->is_number_integer() && version->get<std::int64_t>() == kProgramVersion) ||
       (version->is_number_float() && version->get<double>() == kProgramVersion) ||
       (version->is_boolean() && version->get<bool>()));
  if (!supported)
    throw program_file_error(
        "program format version " +
        (version == program.graph.end() ? std::string("None") : python_repr_json(*version)) +
        " is not supported (this onebit reads version " + std::to_string(kProgramVersion) + ")");
  program.graph_text = graph_text->second;
  program.metadata = std::move(header.metadata);
  program.tensors = std::move(header.tensors);
  return program;
}

TensorStore copy_tensors(const std::uint8_t* file, const std::vector<TensorEntry>& tensors) {
  TensorStore store;
  std::int64_t total = 0;
  for (const TensorEntry& tensor : tensors) {
    store.starts_.push_back(static_cast<std::size_t>(total));
    const auto padded = checked_mul(
        (static_cast<std::int64_t>(tensor.bytes) + kTensorAlignment - 1) / kTensorAlignment,
        kTensorAlignment, "a tensor's aligned size", kMaxBufferBytes);
    total = checked_buffer_elements({total + padded}, 1, "the program's tensors");
  }
  store.storage_.reset(static_cast<std::uint8_t*>(::operator new(
      static_cast<std::size_t>(std::max<std::int64_t>(total, 1)), std::align_val_t{kTensorAlignment})));
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].bytes > 0)
      std::memcpy(store.storage_.get() + store.starts_[i], file + tensors[i].offset, tensors[i].bytes);
  return store;
}

LoadedProgram load_program_file(const std::string& path) {
  std::error_code status;
  // (A path with a NUL byte names no file: the system would read it up to the NUL.)
  if (path.find('\0') != std::string::npos || !std::filesystem::is_regular_file(path, status))
    throw program_file_error("program file not found: " + path);
  // Read to the end rather than to the size the file system reports (0 for /proc files).
  std::vector<std::uint8_t> bytes;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  int read_error = file == nullptr ? errno : 0;
  if (file != nullptr) {
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    errno = 0;
    for (std::size_t got = kChunk; got == kChunk;) {
      const std::size_t old_size = bytes.size();
      bytes.resize(old_size + kChunk);
      got = std::fread(bytes.data() + old_size, 1, kChunk, file);
      bytes.resize(old_size + got);
    }
    if (std::ferror(file)) read_error = errno != 0 ? errno : EIO;
    std::fclose(file);
  }
  if (read_error != 0)
    throw program_file_error(path + " cannot be read (" + std::strerror(read_error) + ")");
  try {
    LoadedProgram program{read_program_file(bytes.data(), bytes.size()), {}};
    program.tensors = copy_tensors(bytes.data(), program.file.tensors);
    return program;
  } catch (const program_file_error& error) {
    throw program_file_error(path + ": " + error.what());
  }
}

}  // namespace onebit
