# check_no_uv_in_headers.cmake -- DESIGN.md §1: uv.h never appears in a public header.
#
#   cmake -DINCLUDE_DIR=<repo>/include [-DLIBRARY=openssl] -P check_no_uv_in_headers.cmake
#
# Fails, naming file and line, if any header under INCLUDE_DIR includes <uv.h>
# or anything under <uv/> (with LIBRARY=openssl: anything under <openssl/>).

cmake_minimum_required(VERSION 3.25)
if(NOT INCLUDE_DIR)
  message(FATAL_ERROR "usage: cmake -DINCLUDE_DIR=<dir> -P check_no_uv_in_headers.cmake")
endif()

if(NOT LIBRARY)
  set(LIBRARY uv)
endif()
if(LIBRARY STREQUAL "openssl")
  set(pattern "openssl/")
else()
  set(pattern "uv([.]h|/)")
endif()
file(GLOB_RECURSE headers "${INCLUDE_DIR}/*.hpp" "${INCLUDE_DIR}/*.h" "${INCLUDE_DIR}/*.ipp")
set(offenders "")
foreach(header IN LISTS headers)
  file(STRINGS "${header}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]${pattern}")
  foreach(line IN LISTS lines)
    file(RELATIVE_PATH rel "${INCLUDE_DIR}" "${header}")
    list(APPEND offenders "  ${rel}: ${line}")
  endforeach()
endforeach()
if(offenders)
  list(JOIN offenders "\n" text)
  message(FATAL_ERROR "public headers must not include ${LIBRARY} headers:\n${text}")
endif()
list(LENGTH headers n)
message(STATUS "${n} public headers, none includes ${LIBRARY} headers")
