# asyncioFindLibuv.cmake -- find libuv and provide the imported target asyncio::libuv.
#
# Included by the top-level CMakeLists.txt (building asyncio) and by the installed
# asyncioConfig.cmake (consuming it): asyncio links libuv PRIVATE, but a static
# libasyncio.a still needs -luv on the consumer's link line, and the exported
# target names asyncio::libuv in its INTERFACE_LINK_LIBRARIES ($<LINK_ONLY:...>).
#
# Order: a CMake package (libuv's own export, vcpkg, Conan), else pkg-config
# "libuv" (Debian's libuv1-dev ships only libuv.pc).
#
# Result: target asyncio::libuv (INTERFACE IMPORTED, directory-scoped) and
# asyncio_LIBUV_FOUND.  It never fails by itself; the includer decides.

if(TARGET asyncio::libuv)
  set(asyncio_LIBUV_FOUND TRUE)
  return()
endif()
set(asyncio_LIBUV_FOUND FALSE)

set(_asyncio_uv "")
find_package(libuv CONFIG QUIET)
if(libuv_FOUND)
  foreach(_asyncio_candidate IN ITEMS libuv::uv libuv::uv_a libuv::libuv uv uv_a unofficial::libuv::libuv)
    if(TARGET ${_asyncio_candidate})
      set(_asyncio_uv ${_asyncio_candidate})
      break()
    endif()
  endforeach()
endif()

if(NOT _asyncio_uv)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(ASYNCIO_LIBUV QUIET IMPORTED_TARGET libuv)
    if(ASYNCIO_LIBUV_FOUND)
      set(_asyncio_uv PkgConfig::ASYNCIO_LIBUV)
    endif()
  endif()
endif()

if(_asyncio_uv)
  add_library(asyncio::libuv INTERFACE IMPORTED)
  set_target_properties(asyncio::libuv PROPERTIES INTERFACE_LINK_LIBRARIES "${_asyncio_uv}")
  set(asyncio_LIBUV_FOUND TRUE)
endif()

unset(_asyncio_uv)
unset(_asyncio_candidate)
