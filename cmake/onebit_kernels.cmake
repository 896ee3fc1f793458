# The kernel sources of csrc/ for the target architecture, each SIMD path's file with that path's
# compile flags only. The nanobind module (CMakeLists.txt) and the native kernel test
# (tests/native/CMakeLists.txt) include this file, so the test builds exactly the module's kernels.
#
# Sets, in the including directory:
#   ONEBIT_BINARY_KERNEL_SOURCES  bgemm (every path), bconv2d's AVX-512 and short-K AVX2 kernels,
#                                 AVX2 and NEON bitpack, the AVX2 output transforms, float chain,
#                                 depthwise and max-pool rows
#   ONEBIT_FLOAT_KERNEL_SOURCES   sgemm (every path)
#   ONEBIT_KERNEL_DEFINITIONS     ONEBIT_X86=1 on x86, ONEBIT_NEON=1 on aarch64 (cpu_features.h)
#   CMAKE_CXX_STANDARD            17, the sources' language (required, no GNU extensions)
#   CMAKE_BUILD_TYPE              Release, unless the caller chose one
# Source file properties are per directory, which is why this is included rather than a library.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release)
endif()

get_filename_component(ONEBIT_CSRC "${CMAKE_CURRENT_LIST_DIR}/../csrc" ABSOLUTE)

set(ONEBIT_BINARY_KERNEL_SOURCES ${ONEBIT_CSRC}/bgemm/bgemm_portable.cpp)
set(ONEBIT_FLOAT_KERNEL_SOURCES ${ONEBIT_CSRC}/float/sgemm_portable.cpp)
set(ONEBIT_KERNEL_DEFINITIONS "")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86|x86)$")
  list(APPEND ONEBIT_KERNEL_DEFINITIONS ONEBIT_X86=1)
  list(APPEND ONEBIT_BINARY_KERNEL_SOURCES ${ONEBIT_CSRC}/bgemm/bgemm_popcnt.cpp
    ${ONEBIT_CSRC}/bgemm/bgemm_avx2.cpp ${ONEBIT_CSRC}/bgemm/bgemm_avx512.cpp)
  set_source_files_properties(${ONEBIT_CSRC}/bgemm/bgemm_popcnt.cpp PROPERTIES COMPILE_OPTIONS
    "-mpopcnt")
  set_source_files_properties(${ONEBIT_CSRC}/bgemm/bgemm_avx2.cpp PROPERTIES COMPILE_OPTIONS
    "-mavx2;-mpopcnt")
  # bitpack, bconv2d's short-K kernel, the output transforms and the float chain with AVX2 (no FMA:
  # results bit-exact)
  list(APPEND ONEBIT_BINARY_KERNEL_SOURCES ${ONEBIT_CSRC}/bitpack/bitpack_avx2.cpp
    ${ONEBIT_CSRC}/bconv2d/bconv2d_short_k_avx2.cpp
    ${ONEBIT_CSRC}/bconv2d/output_transform_avx2.cpp ${ONEBIT_CSRC}/float/float_chain_avx2.cpp
    ${ONEBIT_CSRC}/float/depthwise_avx2.cpp ${ONEBIT_CSRC}/float/maxpool_avx2.cpp)
  set_source_files_properties(${ONEBIT_CSRC}/bitpack/bitpack_avx2.cpp
    ${ONEBIT_CSRC}/bconv2d/bconv2d_short_k_avx2.cpp
    ${ONEBIT_CSRC}/bconv2d/output_transform_avx2.cpp ${ONEBIT_CSRC}/float/float_chain_avx2.cpp
    ${ONEBIT_CSRC}/float/depthwise_avx2.cpp ${ONEBIT_CSRC}/float/maxpool_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2")
  # (GCC 12's AVX-512 intrinsics trip -W[maybe-]uninitialized through _mm512_undefined_*.)
  set(ONEBIT_AVX512_OPTIONS
    "-mavx512f;-mavx512bw;-mavx512vl;-mavx512vpopcntdq;-mpopcnt;-Wno-maybe-uninitialized;-Wno-uninitialized")
  set_source_files_properties(${ONEBIT_CSRC}/bgemm/bgemm_avx512.cpp PROPERTIES COMPILE_OPTIONS
    "${ONEBIT_AVX512_OPTIONS}")
  # bconv2d's AVX-512 kernel (output-channel vectors), the same flags as bgemm's AVX-512 path
  list(APPEND ONEBIT_BINARY_KERNEL_SOURCES ${ONEBIT_CSRC}/bconv2d/bconv2d_avx512.cpp)
  set_source_files_properties(${ONEBIT_CSRC}/bconv2d/bconv2d_avx512.cpp PROPERTIES COMPILE_OPTIONS
    "${ONEBIT_AVX512_OPTIONS}")
  # sgemm's float kernels (FMA; float/sgemm.h also checks the CPU has it before picking them)
  list(APPEND ONEBIT_FLOAT_KERNEL_SOURCES ${ONEBIT_CSRC}/float/sgemm_avx2.cpp
    ${ONEBIT_CSRC}/float/sgemm_avx512.cpp)
  set_source_files_properties(${ONEBIT_CSRC}/float/sgemm_avx2.cpp PROPERTIES COMPILE_OPTIONS
    "-mavx2;-mfma")
  set_source_files_properties(${ONEBIT_CSRC}/float/sgemm_avx512.cpp PROPERTIES COMPILE_OPTIONS
    "-mavx512f;-mfma")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  # Advanced SIMD is part of the aarch64 base ISA: no flags, and the path is always supported.
  # bconv2d runs on bgemm's NEON kernel; sgemm stays portable there.
  list(APPEND ONEBIT_KERNEL_DEFINITIONS ONEBIT_NEON=1)
  list(APPEND ONEBIT_BINARY_KERNEL_SOURCES ${ONEBIT_CSRC}/bgemm/bgemm_neon.cpp
    ${ONEBIT_CSRC}/bitpack/bitpack_neon.cpp)
endif()

