# libonebit: the executor, the kernels and the C API (csrc/api/onebit.h) as a shared and a static
# library, installed with a CMake package config (find_package(onebit) -> onebit::onebit and
# onebit::onebit_static) and a pkg-config file (onebit.pc); and examples/c/classify, which loads a
# program and classifies MNIST images read from an IDX file. Only the C++ standard library (and
# nlohmann/json's headers at build time) are needed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ONEBIT_LIBRARY_SOURCES csrc/api/onebit.cpp ${ONEBIT_BINARY_KERNEL_SOURCES}
  ${ONEBIT_FLOAT_KERNEL_SOURCES} ${ONEBIT_EXECUTOR_SOURCES})
add_library(onebit_objects OBJECT ${ONEBIT_LIBRARY_SOURCES})
set_target_properties(onebit_objects PROPERTIES POSITION_INDEPENDENT_CODE ON
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
onebit_target_options(onebit_objects)

add_library(onebit SHARED $<TARGET_OBJECTS:onebit_objects>)
add_library(onebit_static STATIC $<TARGET_OBJECTS:onebit_objects>)
set_target_properties(onebit_static PROPERTIES OUTPUT_NAME onebit)
set_target_properties(onebit PROPERTIES VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
foreach(target onebit onebit_static)
  target_link_libraries(${target} PUBLIC Threads::Threads)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/csrc/api>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE CXX)
endforeach()
if(NOT ONEBIT_SANITIZE)
  if(NOT ONEBIT_KEEP_SYMBOLS)
    target_link_options(onebit PRIVATE $<$<CXX_COMPILER_ID:GNU,Clang>:-s>)  # stripped: size
  endif()
endif()

add_executable(onebit_classify examples/c/classify.c)
target_link_libraries(onebit_classify PRIVATE onebit_static)
set_target_properties(onebit_classify PROPERTIES LINKER_LANGUAGE CXX)
# The C API's own checks (tests/api/test_c_library.py runs them), linked to the shared library.
add_executable(onebit_api_test tests/api/api_test.c)
target_link_libraries(onebit_api_test PRIVATE onebit m)
set_target_properties(onebit_api_test PROPERTIES LINKER_LANGUAGE CXX)

# The Java binding (java/org/onebit/, csrc/bindings/onebit_jni.cpp) where a JDK's headers are found.
if(NOT DEFINED JAVA_HOME AND NOT DEFINED ENV{JAVA_HOME})
  find_program(ONEBIT_JAVAC javac)  # the JDK of the javac on the PATH
  if(ONEBIT_JAVAC)
    get_filename_component(ONEBIT_JAVAC_REAL "${ONEBIT_JAVAC}" REALPATH)
    get_filename_component(JAVA_HOME "${ONEBIT_JAVAC_REAL}/../.." ABSOLUTE)
  endif()
endif()
find_package(JNI QUIET)
if(NOT JAVA_INCLUDE_PATH AND CMAKE_CROSSCOMPILING)
  # A cross build looks for packages only under the target's root: take the build machine's JDK
  # headers, whose jni_md.h is the same for every 64-bit Linux target (LP64 jlong, ELF
  # visibility). An Android build gets jni.h from the NDK instead.
  set(ONEBIT_JDK "${JAVA_HOME}")
  if(NOT ONEBIT_JDK AND DEFINED ENV{JAVA_HOME})
    set(ONEBIT_JDK "$ENV{JAVA_HOME}")
  endif()
  if(ONEBIT_JDK AND EXISTS "${ONEBIT_JDK}/include/linux/jni_md.h")
    set(JAVA_INCLUDE_PATH "${ONEBIT_JDK}/include")
    set(JAVA_INCLUDE_PATH2 "${ONEBIT_JDK}/include/linux")
  endif()
endif()
if(JAVA_INCLUDE_PATH)
  add_library(onebit_jni SHARED csrc/bindings/onebit_jni.cpp)
  target_include_directories(onebit_jni PRIVATE csrc ${JAVA_INCLUDE_PATH} ${JAVA_INCLUDE_PATH2})
  target_link_libraries(onebit_jni PRIVATE onebit_static)
  install(TARGETS onebit_jni LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
else()
  message(STATUS "onebit: no JDK headers found, the Java binding (onebit_jni) is not built")
endif()

install(TARGETS onebit onebit_static EXPORT onebitTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES csrc/api/onebit.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT onebitTargets NAMESPACE onebit:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/onebit)
configure_package_config_file(cmake/onebitConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/onebitConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/onebit)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/onebitConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/onebitConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/onebitConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/onebit)
file(RELATIVE_PATH ONEBIT_PC_TO_PREFIX "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig"
  "${CMAKE_INSTALL_PREFIX}")
configure_file(cmake/onebit.pc.in ${CMAKE_CURRENT_BINARY_DIR}/onebit.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/onebit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
