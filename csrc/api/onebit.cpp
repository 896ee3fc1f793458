// The C API (onebit.h) over the C++ executor: every entry point catches every exception and turns
// it into a status and a per-thread message.
#include "api/onebit.h"

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/threads.h"
#include "executor/loader.h"

struct onebit_program {
  std::unique_ptr<onebit::Program> program;
};

namespace {

thread_local std::string last_error;
thread_local onebit_status last_status = ONEBIT_OK;

onebit_status fail(onebit_status status, const std::string& message) {
  last_error = message;
  last_status = status;
  return status;
}

// Runs `body`, mapping each exception the executor raises to its status.
template <class Body>
onebit_status guarded(Body body) {
  try {
    body();
    return ONEBIT_OK;
  } catch (const onebit::program_error& error) {
    return fail(ONEBIT_ERROR_PROGRAM, error.what());
  } catch (const onebit::program_file_error& error) {
    return fail(ONEBIT_ERROR_FILE, error.what());
  } catch (const onebit::input_error& error) {
    return fail(ONEBIT_ERROR_INPUT, error.what());
  } catch (const std::bad_alloc&) {
    return fail(ONEBIT_ERROR_INTERNAL, "out of memory");
  } catch (const std::exception& error) {
    return fail(ONEBIT_ERROR_INTERNAL, std::string("internal error: ") + error.what());
  } catch (...) {
    return fail(ONEBIT_ERROR_INTERNAL, "internal error: an unknown exception");
  }
}

// A limit given to the API, or the environment's, or the default (onebit.runtime.program._limit).
std::int64_t limit(std::int64_t given, const char* variable, std::int64_t fallback) {
  if (given < 0) throw onebit::input_error(std::string(variable) + " must be positive or 0 (default)");
  if (given > 0) return given;
  const char* text = std::getenv(variable);
  if (text == nullptr) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || errno == ERANGE)
    throw onebit::input_error(std::string(variable) + "='" + text + "' is not a whole number");
  if (value < 1) throw onebit::input_error(std::string(variable) + " must be a positive int");
  return value;
}

onebit::ProgramLimits limits(std::int64_t max_memory, std::int64_t max_work) {
  return {limit(max_memory, "ONEBIT_MAX_MEMORY", onebit::kDefaultMaxMemory),
          limit(max_work, "ONEBIT_MAX_WORK", onebit::kDefaultMaxWork)};
}

int shape_of(const onebit_program* program, bool input, int64_t* dims) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), -1;
  const onebit::Shape& shape = input ? program->program->input_shape() : program->program->output_shape();
  if (dims != nullptr)
    for (std::size_t i = 0; i < shape.size(); ++i) dims[i] = shape[i];
  return static_cast<int>(shape.size());
}

// The switch `index` of `program`, or nullptr after recording the failure.
const onebit::Switch* switch_at(const onebit_program* program, int index) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), nullptr;
  const auto& switches = program->program->switches();
  if (index < 0 || static_cast<std::size_t>(index) >= switches.size())
    return fail(ONEBIT_ERROR_ARGUMENT, "switch index " + std::to_string(index) +
                                           " is not below the switch count " +
                                           std::to_string(switches.size())),
           nullptr;
  return &switches[static_cast<std::size_t>(index)];
}

}  // namespace

extern "C" {

const char* onebit_version(void) { return "0.1.0"; }

const char* onebit_last_error(void) { return last_error.c_str(); }

onebit_status onebit_last_status(void) { return last_status; }

onebit_program* onebit_load_with_limits(const char* path, int64_t max_memory, int64_t max_work) {
  if (path == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "path is NULL"), nullptr;
  onebit_program* loaded = nullptr;
  const onebit_status status = guarded([&] {
    auto program = onebit::load_program(path, limits(max_memory, max_work));
    loaded = new onebit_program{std::move(program)};
  });
  return status == ONEBIT_OK ? loaded : nullptr;
}

onebit_program* onebit_load(const char* path) { return onebit_load_with_limits(path, 0, 0); }

onebit_program* onebit_load_memory(const void* data, size_t size) {
  if (data == nullptr && size != 0) return fail(ONEBIT_ERROR_ARGUMENT, "data is NULL"), nullptr;
  onebit_program* loaded = nullptr;
  const onebit_status status = guarded([&] {
    auto program = onebit::load_program_memory(static_cast<const std::uint8_t*>(data), size,
                                               limits(0, 0));
    loaded = new onebit_program{std::move(program)};
  });
  return status == ONEBIT_OK ? loaded : nullptr;
}

int onebit_input_shape(const onebit_program* program, int64_t* dims) {
  return shape_of(program, true, dims);
}

int onebit_output_shape(const onebit_program* program, int64_t* dims) {
  return shape_of(program, false, dims);
}

int64_t onebit_input_size(const onebit_program* program) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), -1;
  return program->program->input_elements();
}

int64_t onebit_output_size(const onebit_program* program) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), -1;
  return program->program->output_elements();
}

int onebit_switch_count(const onebit_program* program) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), -1;
  return static_cast<int>(program->program->switches().size());
}

const char* onebit_switch_name(const onebit_program* program, int index) {
  const onebit::Switch* found = switch_at(program, index);
  return found == nullptr ? nullptr : found->name.c_str();
}

int onebit_switch_options(const onebit_program* program, int index, int* options) {
  const onebit::Switch* found = switch_at(program, index);
  if (found == nullptr) return -1;
  if (options != nullptr)
    for (std::size_t i = 0; i < found->options.size(); ++i)
      options[i] = static_cast<int>(found->options[i]);
  return static_cast<int>(found->options.size());
}

int onebit_switch_bits(const onebit_program* program, int index) {
  if (switch_at(program, index) == nullptr) return -1;
  return static_cast<int>(program->program->bits()[static_cast<std::size_t>(index)]);
}

onebit_program* onebit_with_bits(const onebit_program* program, const int* bits, size_t count) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL"), nullptr;
  if (bits == nullptr && count != 0) return fail(ONEBIT_ERROR_ARGUMENT, "bits is NULL"), nullptr;
  if (count == 0)
    return fail(ONEBIT_ERROR_ARGUMENT, "bits needs one width per switch (" +
                                           std::to_string(program->program->switches().size()) +
                                           "), got 0"),
           nullptr;
  onebit_program* made = nullptr;
  const onebit_status status = guarded([&] {
    const std::vector<std::int64_t> setting(bits, bits + count);
    made = new onebit_program{program->program->with_bits(setting)};
  });
  return status == ONEBIT_OK ? made : nullptr;
}

onebit_status onebit_set_threads(int threads) {
  if (threads < 0 || threads > onebit::kMaxThreads)
    return fail(ONEBIT_ERROR_ARGUMENT, "threads must be 0 (all) to " +
                                           std::to_string(onebit::kMaxThreads) + ", got " +
                                           std::to_string(threads));
  onebit::default_threads().store(threads == 0 ? onebit::hardware_threads() : threads);
  return ONEBIT_OK;
}

onebit_status onebit_set_simd_path(const char* name) {
  if (name == nullptr) return onebit::reset_default_simd_path(), ONEBIT_OK;
  onebit::SimdPath path;
  if (!onebit::simd_from_name(name, &path))
    return fail(ONEBIT_ERROR_ARGUMENT, std::string("SIMD path '") + name +
                                           "' is not one this CPU runs (" +
                                           onebit::simd_paths_text() + ")");
  onebit::set_default_simd_path(path);
  return ONEBIT_OK;
}

const char* onebit_simd_path(void) { return onebit::simd_name(onebit::default_simd_path()); }

onebit_status onebit_run(const onebit_program* program, const float* x, int64_t batch, float* out) {
  if (program == nullptr) return fail(ONEBIT_ERROR_ARGUMENT, "program is NULL");
  if (batch < 0) return fail(ONEBIT_ERROR_ARGUMENT, "batch must be >= 0, got " + std::to_string(batch));
  if (batch > 0 && (x == nullptr || out == nullptr))
    return fail(ONEBIT_ERROR_ARGUMENT, x == nullptr ? "x is NULL" : "out is NULL");
  if (program->program->output_kind() != onebit::Kind::float32)
    return fail(ONEBIT_ERROR_ARGUMENT,
                "the program's output is not float32 (a packed or integer map): onebit_run "
                "returns floats only");
  return guarded([&] { program->program->run(x, batch, out, onebit::resolve_threads(0)); });
}

void onebit_free(onebit_program* program) { delete program; }

}  // extern "C"
