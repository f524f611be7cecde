# Install rules and the package descriptions users build against. `cmake --install`
# (any --prefix, any DESTDIR) produces:
#   <includedir>/corio/*.h                 the public headers (corio.h, http.h and the rest)
#   <libdir>/libcorio.so.X.Y.Z             SONAME libcorio.so.X, plus the libcorio.so dev link
#   <libdir>/libcorio.a
#   <libdir>/libcorio-http.so.X.Y.Z        SONAME libcorio-http.so.X, and libcorio-http.so
#   <libdir>/libcorio-http.a
#   <libdir>/pkgconfig/corio.pc            pkg-config --cflags --libs [--static] corio
#   <libdir>/pkgconfig/corio-http.pc       the same for corio-http (which requires corio)
#   <libdir>/cmake/corio/                  find_package(corio): corio::corio,
#                                          corio::corio_static, corio::http, corio::http_static
#   <bindir>/corio-*                       the tools, when the examples are built
# Included from the top-level CMakeLists.txt for every build but CORIO_CORE_ONLY.
include(CMakePackageConfigHelpers)

option(CORIO_INSTALL "Generate corio's install rules" ON)
if(NOT CORIO_INSTALL)
  return()
endif()

set(CORIO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/corio)

# A sanitized libcorio calls into the ASan/UBSan runtimes, so whatever links an installed
# one must link them too: both packages pass the link flag on (compile flags stay the
# consumer's choice). Installing a sanitized build is for testing; releases are plain.
set(CORIO_SANITIZE_LINK_FLAGS "")
if(CORIO_SANITIZE)
  set(CORIO_SANITIZE_LINK_FLAGS -fsanitize=address -fsanitize=undefined)
  foreach(lib corio corio_static corio_http corio_http_static)
    target_link_options(${lib} INTERFACE "$<INSTALL_INTERFACE:${CORIO_SANITIZE_LINK_FLAGS}>")
  endforeach()
endif()

# ---- libraries and headers --------------------------------------------------------------
install(TARGETS corio corio_static corio_http corio_http_static EXPORT corioTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/corio
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# ---- CMake package: find_package(corio [version]) ----------------------------------------
# Before 1.0 a minor release may break the API, so a version request matches X.Y exactly.
install(EXPORT corioTargets NAMESPACE corio:: DESTINATION ${CORIO_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/corioConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/corioConfig.cmake
                              INSTALL_DESTINATION ${CORIO_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/corioConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/corioConfig.cmake ${PROJECT_BINARY_DIR}/corioConfigVersion.cmake
        DESTINATION ${CORIO_CMAKE_DIR})

# ---- pkg-config: corio.pc, corio-http.pc -----------------------------------------------
# Written in two steps so that their paths are those of the actual install: now everything
# but the prefix; at install time, once `cmake --install --prefix` has had its say, the
# prefix.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(CORIO_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(CORIO_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
list(JOIN CORIO_SANITIZE_LINK_FLAGS " " CORIO_PC_LIBS_EXTRA)
if(CORIO_PC_LIBS_EXTRA)
  string(PREPEND CORIO_PC_LIBS_EXTRA " ")
endif()
set(CORIO_PC_PREFIX "@CORIO_PC_PREFIX@") # kept for the install-time step
foreach(pc corio corio-http)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc.in @ONLY)
  install(CODE "set(CORIO_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${PROJECT_BINARY_DIR}/${pc}.pc.in\" \"${PROJECT_BINARY_DIR}/${pc}.pc\" @ONLY)")
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# ---- tools ------------------------------------------------------------------------------
# Every corio-* program of examples/ (corio-echo, ...). Outside the system's library
# directories they find libcorio relative to themselves, so any prefix works.
if(CORIO_BUILD_EXAMPLES)
  set(CORIO_TOOL_RPATH "")
  if(NOT CMAKE_INSTALL_FULL_LIBDIR IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
    file(RELATIVE_PATH rel ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
    set(CORIO_TOOL_RPATH "$ORIGIN/${rel}")
  endif()
  get_property(example_targets DIRECTORY ${PROJECT_SOURCE_DIR}/examples
               PROPERTY BUILDSYSTEM_TARGETS)
  foreach(tool IN LISTS example_targets)
    if(tool MATCHES "^corio-")
      set_target_properties(${tool} PROPERTIES INSTALL_RPATH "${CORIO_TOOL_RPATH}")
      install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    endif()
  endforeach()
endif()

if(CORIO_BUILD_TESTS)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/package ${PROJECT_BINARY_DIR}/tests/package)
endif()
