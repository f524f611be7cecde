# Load tools and baselines for comparing servers: standalone C programs with no corio
# dependency. Included from the top-level CMakeLists.txt (so every build has them: integration
# tests drive echo servers with echo_load) and from bench/CMakeLists.txt; built once.
#   epoll_echo   the epoll echo server corio-echo is measured against
#   uring_echo   the raw liburing multishot echo server (the best hand-written io_uring baseline)
#   echo_load    ping-pong echo load client that verifies every byte
#   idle_conns   opens N connections, echoes one message on each, holds them idle (idle_memory.sh)
#   uv_echo      the libuv echo server (built only when pkg-config finds libuv: libuv1-dev)
# All land in <build>/bench/; bench/servers.sh runs them.
include_guard(GLOBAL)

if(CORIO_CORE_ONLY)
  return() # the qemu cross build is the context switch and stacks only
endif()

foreach(tool epoll_echo uring_echo echo_load idle_conns)
  add_executable(${tool} ${PROJECT_SOURCE_DIR}/bench/${tool}.c)
  set_target_properties(${tool} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
endforeach()
target_link_libraries(echo_load PRIVATE m)
target_link_libraries(uring_echo PRIVATE PkgConfig::URING)

pkg_check_modules(LIBUV IMPORTED_TARGET libuv)
if(LIBUV_FOUND)
  add_executable(uv_echo ${PROJECT_SOURCE_DIR}/bench/uv_echo.c)
  set_target_properties(uv_echo PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
  target_link_libraries(uv_echo PRIVATE PkgConfig::LIBUV)
else()
  message(STATUS "uv_echo: libuv not found (Debian: libuv1-dev); the libuv baseline will be skipped")
endif()

if(CORIO_BUILD_TESTS)
  enable_testing()
  add_test(NAME test_echo_tools
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_echo_tools.sh
                   $<TARGET_FILE:epoll_echo> $<TARGET_FILE:echo_load>)
  add_test(NAME test_uring_echo_tool
           COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_echo_tools.sh
                   $<TARGET_FILE:uring_echo> $<TARGET_FILE:echo_load>)
  set_tests_properties(test_echo_tools test_uring_echo_tool PROPERTIES LABELS tools TIMEOUT 120)
  if(TARGET uv_echo)
    add_test(NAME test_uv_echo_tool
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_echo_tools.sh
                     $<TARGET_FILE:uv_echo> $<TARGET_FILE:echo_load>)
    set_tests_properties(test_uv_echo_tool PROPERTIES LABELS tools TIMEOUT 120)
  endif()
endif()
