// The Java binding (java/org/onebit/Program.java) over the C API (api/onebit.h): each native
// method calls the API and turns a failure into an org.onebit.OnebitException carrying the status
// and onebit_last_error().
#include <jni.h>

#include <cstdint>
#include <string>
#include <vector>

#include "api/onebit.h"

namespace {

void throw_onebit(JNIEnv* env, int status, const char* message) {
  jclass type = env->FindClass("org/onebit/OnebitException");
  if (type == nullptr) return;  // NoClassDefFoundError is pending
  jmethodID make = env->GetMethodID(type, "<init>", "(ILjava/lang/String;)V");
  jstring text = env->NewStringUTF(message);
  if (make == nullptr || text == nullptr) return;
  auto* error = static_cast<jthrowable>(env->NewObject(type, make, status, text));
  if (error != nullptr) env->Throw(error);
}

void throw_last(JNIEnv* env, int status) { throw_onebit(env, status, onebit_last_error()); }

const onebit_program* program_of(jlong handle) {
  return reinterpret_cast<const onebit_program*>(static_cast<std::intptr_t>(handle));
}

jlong handle_of(JNIEnv* env, onebit_program* program) {
  if (program == nullptr) {
    throw_last(env, onebit_last_status());
    return 0;
  }
  return static_cast<jlong>(reinterpret_cast<std::intptr_t>(program));
}

}  // namespace

extern "C" {

JNIEXPORT jlong JNICALL Java_org_onebit_Program_loadPath(JNIEnv* env, jclass, jstring path) {
  if (path == nullptr) return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "path is null"), 0;
  const char* text = env->GetStringUTFChars(path, nullptr);
  if (text == nullptr) return 0;  // OutOfMemoryError is pending
  const std::string copy(text);
  env->ReleaseStringUTFChars(path, text);
  return handle_of(env, onebit_load(copy.c_str()));
}

JNIEXPORT jlong JNICALL Java_org_onebit_Program_loadBytes(JNIEnv* env, jclass, jbyteArray bytes) {
  if (bytes == nullptr) return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "bytes is null"), 0;
  std::vector<jbyte> data(static_cast<std::size_t>(env->GetArrayLength(bytes)));
  env->GetByteArrayRegion(bytes, 0, static_cast<jsize>(data.size()), data.data());
  return handle_of(env, onebit_load_memory(data.data(), data.size()));
}

JNIEXPORT jlong JNICALL Java_org_onebit_Program_loadDirect(JNIEnv* env, jclass, jobject buffer,
                                                           jint offset, jint length) {
  auto* base = static_cast<const std::uint8_t*>(env->GetDirectBufferAddress(buffer));
  const jlong capacity = env->GetDirectBufferCapacity(buffer);
  if (base == nullptr || capacity < 0)
    return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "the buffer is not a direct buffer"), 0;
  if (offset < 0 || length < 0 || jlong{offset} + length > capacity)
    return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "the buffer's range is out of bounds"), 0;
  return handle_of(env, onebit_load_memory(base + offset, static_cast<std::size_t>(length)));
}

JNIEXPORT void JNICALL Java_org_onebit_Program_setThreads(JNIEnv* env, jclass, jint threads) {
  const onebit_status status = onebit_set_threads(threads);
  if (status != ONEBIT_OK) throw_last(env, status);
}

JNIEXPORT jstring JNICALL Java_org_onebit_Program_version(JNIEnv* env, jclass) {
  return env->NewStringUTF(onebit_version());
}

JNIEXPORT jlongArray JNICALL Java_org_onebit_Program_shape(JNIEnv* env, jclass, jlong handle,
                                                           jboolean input) {
  std::int64_t dims[ONEBIT_MAX_RANK];
  const int rank = input ? onebit_input_shape(program_of(handle), dims)
                         : onebit_output_shape(program_of(handle), dims);
  if (rank < 0) return throw_last(env, ONEBIT_ERROR_ARGUMENT), nullptr;
  jlongArray out = env->NewLongArray(rank);
  if (out == nullptr) return nullptr;
  std::vector<jlong> values(dims, dims + rank);
  env->SetLongArrayRegion(out, 0, rank, values.data());
  return out;
}

JNIEXPORT jint JNICALL Java_org_onebit_Program_size(JNIEnv* env, jclass, jlong handle,
                                                    jboolean input) {
  const std::int64_t size = input ? onebit_input_size(program_of(handle))
                                  : onebit_output_size(program_of(handle));
  if (size < 0) return throw_last(env, ONEBIT_ERROR_ARGUMENT), 0;
  if (size > INT32_MAX) return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "a sample has over 2^31 values"), 0;
  return static_cast<jint>(size);
}

JNIEXPORT jfloatArray JNICALL Java_org_onebit_Program_run(JNIEnv* env, jclass, jlong handle,
                                                          jfloatArray x, jint batch) {
  const onebit_program* program = program_of(handle);
  if (x == nullptr) return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "x is null"), nullptr;
  if (batch < 0) return throw_onebit(env, ONEBIT_ERROR_ARGUMENT, "batch must be >= 0"), nullptr;
  const std::int64_t inputs = onebit_input_size(program), outputs = onebit_output_size(program);
  const std::int64_t length = env->GetArrayLength(x);
  if (length != batch * inputs) {
    const std::string message = "x holds " + std::to_string(length) + " values, not batch " +
                                std::to_string(batch) + " x " + std::to_string(inputs);
    return throw_onebit(env, ONEBIT_ERROR_INPUT, message.c_str()), nullptr;
  }
  if (batch * outputs > INT32_MAX)
    return throw_onebit(env, ONEBIT_ERROR_INPUT, "the output would pass 2^31 values"), nullptr;
  std::vector<float> in(static_cast<std::size_t>(length));
  env->GetFloatArrayRegion(x, 0, static_cast<jsize>(length), in.data());
  std::vector<float> out(static_cast<std::size_t>(batch * outputs));
  const onebit_status status = onebit_run(program, in.data(), batch, out.data());
  if (status != ONEBIT_OK) return throw_last(env, status), nullptr;
  jfloatArray result = env->NewFloatArray(static_cast<jsize>(out.size()));
  if (result != nullptr) env->SetFloatArrayRegion(result, 0, static_cast<jsize>(out.size()), out.data());
  return result;
}

JNIEXPORT jint JNICALL Java_org_onebit_Program_switchCount(JNIEnv* env, jclass, jlong handle) {
  const int count = onebit_switch_count(program_of(handle));
  if (count < 0) throw_last(env, onebit_last_status());
  return count;
}

JNIEXPORT jstring JNICALL Java_org_onebit_Program_switchName(JNIEnv* env, jclass, jlong handle,
                                                             jint index) {
  const char* name = onebit_switch_name(program_of(handle), index);
  if (name == nullptr) return throw_last(env, onebit_last_status()), nullptr;
  return env->NewStringUTF(name);
}

JNIEXPORT jintArray JNICALL Java_org_onebit_Program_switchOptions(JNIEnv* env, jclass,
                                                                  jlong handle, jint index) {
  int options[ONEBIT_MAX_OPTIONS];
  const int count = onebit_switch_options(program_of(handle), index, options);
  if (count < 0) return throw_last(env, onebit_last_status()), nullptr;
  jintArray out = env->NewIntArray(count);
  if (out == nullptr) return nullptr;
  std::vector<jint> values(options, options + count);
  env->SetIntArrayRegion(out, 0, count, values.data());
  return out;
}

JNIEXPORT jint JNICALL Java_org_onebit_Program_switchBits(JNIEnv* env, jclass, jlong handle,
                                                          jint index) {
  const int bits = onebit_switch_bits(program_of(handle), index);
  if (bits < 0) throw_last(env, onebit_last_status());
  return bits;
}

JNIEXPORT jlong JNICALL Java_org_onebit_Program_withBits(JNIEnv* env, jclass, jlong handle,
                                                         jintArray bits) {
  std::vector<jint> values(static_cast<std::size_t>(env->GetArrayLength(bits)));
  env->GetIntArrayRegion(bits, 0, static_cast<jsize>(values.size()), values.data());
  const std::vector<int> widths(values.begin(), values.end());
  return handle_of(env, onebit_with_bits(program_of(handle), widths.data(), widths.size()));
}

JNIEXPORT void JNICALL Java_org_onebit_Program_free(JNIEnv*, jclass, jlong handle) {
  onebit_free(reinterpret_cast<onebit_program*>(static_cast<std::intptr_t>(handle)));
}

}  // extern "C"
