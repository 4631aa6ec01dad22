# run_install_test.cmake -- proves both ways of consuming asyncio work.
#
#   cmake -DMODE=install|subdir -DSOURCE_DIR=<asyncio checkout> -DWORK_DIR=<scratch>
#         [-DGENERATOR=...] [-DMAKE_PROGRAM=...] [-DCXX_COMPILER=...] [-DBUILD_TYPE=...]
#         [-DBUILD_SHARED=ON|OFF] [-DWERROR=ON|OFF] -P run_install_test.cmake
#
# install: configure + build + install asyncio (tests/examples/benchmarks OFF)
#          into WORK_DIR/prefix, then build tests/install/consumer against it
#          with find_package(asyncio CONFIG REQUIRED) and run it; then build
#          and run the same consumer with -fsanitize=address against that
#          plain library (frames made on one side are freed on the other).
# subdir:  build tests/install/subdir, which add_subdirectory()s SOURCE_DIR, and run it.
# Any failing step fails the test.

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS MODE SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_install_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

# Options shared by every configure step.
set(common_args "")
if(GENERATOR)
  list(APPEND common_args -G "${GENERATOR}")
endif()
if(GENERATOR_PLATFORM)
  list(APPEND common_args -A "${GENERATOR_PLATFORM}")
endif()
if(GENERATOR_TOOLSET)
  list(APPEND common_args -T "${GENERATOR_TOOLSET}")
endif()
if(MAKE_PROGRAM)
  list(APPEND common_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND common_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(CXX_COMPILER_LAUNCHER)
  list(APPEND common_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_COMPILER_LAUNCHER}")
endif()
list(APPEND common_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")

# Options for the library (in subdir mode they reach it through the consumer's cache;
# the ASYNCIO_BUILD_* options are left to their defaults there, which the
# consumer checks are OFF).
set(asyncio_args -DASYNCIO_SANITIZE=)
if(BUILD_SHARED)
  list(APPEND asyncio_args -DBUILD_SHARED_LIBS=ON)
else()
  list(APPEND asyncio_args -DBUILD_SHARED_LIBS=OFF)
endif()
if(WERROR)
  list(APPEND asyncio_args -DASYNCIO_WERROR=ON)
endif()

function(step what)
  message(STATUS "[${MODE}_consumer] ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}_consumer] FAILED (${rc}): ${what}")
  endif()
endfunction()

# Runs the consumer program; it must exit 0 and print exactly "43\n".
function(run_consumer program)
  message(STATUS "[${MODE}_consumer] run ${program}")
  execute_process(COMMAND "${program}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "[${MODE}_consumer] exit=${rc} stdout=[${out}] stderr=[${err}]")
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "43\n")
    message(FATAL_ERROR "[${MODE}_consumer] FAILED: expected exit 0 and stdout \"43\\n\"")
  endif()
endfunction()

set(tests_dir "${SOURCE_DIR}/tests/install")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

if(MODE STREQUAL "install")
  set(lib_build "${WORK_DIR}/asyncio-build")
  set(prefix "${WORK_DIR}/prefix")
  set(consumer_build "${WORK_DIR}/consumer-build")
  step("configure asyncio"
       "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${lib_build}" ${common_args} ${asyncio_args}
       -DASYNCIO_BUILD_TESTS=OFF -DASYNCIO_BUILD_EXAMPLES=OFF -DASYNCIO_BUILD_BENCHMARKS=OFF
       "-DCMAKE_INSTALL_PREFIX=${prefix}")
  step("build asyncio" "${CMAKE_COMMAND}" --build "${lib_build}" --config "${BUILD_TYPE}" --parallel)
  step("install asyncio" "${CMAKE_COMMAND}" --install "${lib_build}" --config "${BUILD_TYPE}")
  step("configure consumer (find_package)"
       "${CMAKE_COMMAND}" -S "${tests_dir}/consumer" -B "${consumer_build}" ${common_args}
       "-DCMAKE_PREFIX_PATH=${prefix}"
       # only the installed package may satisfy find_package(asyncio)
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  step("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${BUILD_TYPE}")
  set(asan_build "${WORK_DIR}/consumer-asan-build")
  step("configure consumer with ASan against the plain library"
       "${CMAKE_COMMAND}" -S "${tests_dir}/consumer" -B "${asan_build}" ${common_args}
       "-DCMAKE_PREFIX_PATH=${prefix}"
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
       "-DCMAKE_CXX_FLAGS=-fsanitize=address -fno-omit-frame-pointer"
       "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address")
  step("build consumer with ASan" "${CMAKE_COMMAND}" --build "${asan_build}" --config "${BUILD_TYPE}")
elseif(MODE STREQUAL "subdir")
  set(consumer_build "${WORK_DIR}/subdir-build")
  step("configure consumer (add_subdirectory)"
       "${CMAKE_COMMAND}" -S "${tests_dir}/subdir" -B "${consumer_build}" ${common_args} ${asyncio_args}
       "-DASYNCIO_SOURCE_DIR=${SOURCE_DIR}")
  step("build consumer" "${CMAKE_COMMAND}" --build "${consumer_build}" --config "${BUILD_TYPE}" --parallel)
else()
  message(FATAL_ERROR "run_install_test.cmake: MODE must be install or subdir, not '${MODE}'")
endif()

# Single-config generators put the program in the build dir, multi-config ones in <config>/.
set(builds "${consumer_build}")
if(MODE STREQUAL "install")
  list(APPEND builds "${asan_build}")
endif()
foreach(build IN LISTS builds)
  if(EXISTS "${build}/${BUILD_TYPE}/consumer")
    run_consumer("${build}/${BUILD_TYPE}/consumer")
  else()
    run_consumer("${build}/consumer")
  endif()
endforeach()
message(STATUS "[${MODE}_consumer] OK")
