# CheckHeaders.cmake -- every public header must compile on its own.
#
# asyncio_check_headers(<target> <include-root> <library>) generates one
# translation unit per header under <include-root>/asyncio (recursively, *.hpp
# and *.h), each containing only `#include <asyncio/...>`, and compiles them
# all as the OBJECT library <target> linked to <library>.

function(asyncio_check_headers target include_root library)
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS
       RELATIVE "${include_root}"
       "${include_root}/asyncio/*.hpp" "${include_root}/asyncio/*.h")
  if(NOT headers)
    message(STATUS "asyncio: no headers under ${include_root}/asyncio; ${target} skipped")
    return()
  endif()
  list(SORT headers)
  set(sources "")
  foreach(header IN LISTS headers)
    string(MAKE_C_IDENTIFIER "${header}" stem)
    set(source "${CMAKE_CURRENT_BINARY_DIR}/${target}/${stem}.cpp")
    # file(CONFIGURE) rewrites the file only when its content changes.
    file(CONFIGURE OUTPUT "${source}"
         CONTENT "// Generated: checks that <${header}> is self-contained.\n#include <${header}>\n"
         @ONLY)
    list(APPEND sources "${source}")
  endforeach()
  add_library(${target} OBJECT ${sources})
  target_link_libraries(${target} PRIVATE ${library})
endfunction()
