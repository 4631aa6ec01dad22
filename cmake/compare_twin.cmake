# compare_twin.cmake -- run an example's Python twin, then the example, and compare their stdout
# byte for byte (the twin's output is the expected one).
#
#   cmake -DPYTHON=<python3.13> -DSCRIPT=<twin.py> -DPROGRAM=<exe> -DEXPECTED=<file> -P compare_twin.cmake

cmake_minimum_required(VERSION 3.25)

if(NOT PYTHON OR NOT SCRIPT)
  message(FATAL_ERROR "usage: cmake -DPYTHON=<python> -DSCRIPT=<twin.py> -DPROGRAM=<exe> -DEXPECTED=<file> -P compare_twin.cmake")
endif()
execute_process(
  COMMAND "${PYTHON}" "${SCRIPT}"
  INPUT_FILE /dev/null
  OUTPUT_FILE "${EXPECTED}"
  RESULT_VARIABLE rc)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${SCRIPT} failed: ${rc}")
endif()
include("${CMAKE_CURRENT_LIST_DIR}/compare_output.cmake")
