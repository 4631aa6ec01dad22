# compare_output.cmake -- run a program and compare its stdout with a file, byte for byte.
#
#   cmake -DPROGRAM=<exe> -DEXPECTED=<file> [-DACTUAL=<file>] [-DARGS="a;b"] -P compare_output.cmake
#
# Fails when the program cannot run, exits non-zero, or prints anything else on
# stdout.  stderr is passed through, not compared.  The output is captured
# straight into ACTUAL (default: <PROGRAM>.actual), so no byte is lost or
# re-encoded; on a mismatch a unified diff is printed.

cmake_minimum_required(VERSION 3.25)

if(NOT PROGRAM OR NOT EXPECTED)
  message(FATAL_ERROR "usage: cmake -DPROGRAM=<exe> -DEXPECTED=<file> [-DACTUAL=<file>] -P compare_output.cmake")
endif()
if(NOT EXISTS "${EXPECTED}")
  message(FATAL_ERROR "expected-output file not found: ${EXPECTED}")
endif()
if(NOT ACTUAL)
  set(ACTUAL "${PROGRAM}.actual")
endif()

execute_process(
  COMMAND "${PROGRAM}" ${ARGS}
  INPUT_FILE /dev/null
  OUTPUT_FILE "${ACTUAL}"
  RESULT_VARIABLE rc)

if(NOT rc STREQUAL "0")
  file(READ "${ACTUAL}" actual_text)
  message("---- stdout of ${PROGRAM} ----\n${actual_text}---- end ----")
  message(FATAL_ERROR "${PROGRAM} failed: ${rc}")
endif()

execute_process(
  COMMAND "${CMAKE_COMMAND}" -E compare_files "${EXPECTED}" "${ACTUAL}"
  RESULT_VARIABLE differ)
if(NOT differ EQUAL 0)
  find_program(DIFF_PROGRAM diff)
  if(DIFF_PROGRAM)
    execute_process(COMMAND "${DIFF_PROGRAM}" -u "${EXPECTED}" "${ACTUAL}")
  else()
    file(READ "${EXPECTED}" expected_text)
    file(READ "${ACTUAL}" actual_text)
    message("---- expected ----\n${expected_text}---- actual ----\n${actual_text}---- end ----")
  endif()
  message(FATAL_ERROR "stdout of ${PROGRAM} differs from ${EXPECTED} (actual output kept in ${ACTUAL})")
endif()
message(STATUS "stdout matches ${EXPECTED}")
