# check.cmake -- compiles SOURCE (-fsyntax-only) with CXX and checks the verdict.
#
# The first lines of SOURCE say what is expected:
#   // expect: <regex>        the diagnostic of a refused build
#   // compilers: gcc12       (optional) only GCC 12 (and older) must refuse it;
#                             any other compiler must accept it
# Without `compilers:`, every compiler must refuse it.
file(STRINGS "${SOURCE}" expect_line REGEX "^// expect: " LIMIT_COUNT 1)
file(STRINGS "${SOURCE}" compilers_line REGEX "^// compilers: " LIMIT_COUNT 1)
string(REGEX REPLACE "^// expect: " "" expect "${expect_line}")
set(must_refuse TRUE)
if(compilers_line MATCHES "gcc12")
  if(NOT (COMPILER_ID STREQUAL "GNU" AND COMPILER_VERSION VERSION_LESS 13))
    set(must_refuse FALSE)
  endif()
endif()
execute_process(COMMAND "${CXX}" -std=c++20 -fsyntax-only -Wall -Wextra "-I${INCLUDE_DIR}" "${SOURCE}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(must_refuse)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiled, but must be refused")
  endif()
  if(NOT err MATCHES "${expect}")
    message(FATAL_ERROR "${SOURCE} was refused without the expected diagnostic '${expect}':\n${err}")
  endif()
  message(STATUS "refused as expected")
else()
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${SOURCE} must compile with this compiler:\n${err}")
  endif()
  message(STATUS "accepted as expected")
endif()
