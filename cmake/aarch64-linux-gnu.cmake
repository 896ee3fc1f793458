# CMake toolchain file: cross-build for 64-bit ARM Linux with Debian's cross compiler (package
# g++-aarch64-linux-gnu). The programs run on an x86 machine under qemu-user (package qemu-user):
#   qemu-aarch64 -L /usr/aarch64-linux-gnu PROGRAM
# (-L: the aarch64 loader and libraries of the cross toolchain). CMAKE_SYSTEM_PROCESSOR aarch64
# selects the NEON kernels (cmake/onebit_kernels.cmake).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
