# Sets ONEBIT_EXECUTOR_SOURCES and ONEBIT_JSON_INCLUDE_DIRS.
# The executor (csrc/executor/): loads, validates and runs a program. It parses the graph with
# nlohmann/json: the system's package (Debian: nlohmann-json3-dev) when CMake finds it, else the
# headers of the PyPI package nlohmann-json (a build requirement of the Python wheel).
set(ONEBIT_EXECUTOR_SOURCES "")
foreach(name program_file op epilogue ops_layout ops_dense ops_elementwise ops_conv ops_pool
    ops_concat ops_kbit ops_dynamic ops_embedding registry switches program loader)
  list(APPEND ONEBIT_EXECUTOR_SOURCES ${CMAKE_CURRENT_LIST_DIR}/../csrc/executor/${name}.cpp)
endforeach()
find_package(nlohmann_json 3.11 CONFIG QUIET)
if(nlohmann_json_FOUND)
  get_target_property(ONEBIT_JSON_INCLUDE_DIRS nlohmann_json::nlohmann_json
    INTERFACE_INCLUDE_DIRECTORIES)
else()
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.10 COMPONENTS Interpreter)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "import nlohmann_json; print(nlohmann_json.get_include())"
    OUTPUT_VARIABLE ONEBIT_JSON_INCLUDE_DIRS OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE ONEBIT_JSON_FOUND_IN_PYTHON ERROR_QUIET)
  if(NOT ONEBIT_JSON_FOUND_IN_PYTHON EQUAL 0 OR NOT EXISTS "${ONEBIT_JSON_INCLUDE_DIRS}/nlohmann/json.hpp")
    message(FATAL_ERROR "onebit's executor needs nlohmann/json >= 3.11: install the system "
      "package (Debian: apt-get install nlohmann-json3-dev) or the Python package "
      "(pip install nlohmann-json)")
  endif()
endif()
