# The soak test (label soak): tests/soak/soak.sh drives a server with well-behaved and
# hostile clients (tests/soak/hostile.c, plain C, no corio) for SOAK_SECONDS, then checks
# bytes, fds, RSS and a clean SIGTERM (ASan/LSan reports fail it in the sanitizer build).
# ctest runs the short version (10 s a server); `make soak` the long one.
# Included from tests/CMakeLists.txt.
add_executable(hostile ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
set_target_properties(hostile PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/soak)

# The servers are the examples' targets, defined after tests/ is processed: register the
# tests at the end of the top-level directory, when `if(TARGET ...)` can see them.
function(corio_soak_tests)
  set(script ${PROJECT_SOURCE_DIR}/tests/soak/soak.sh)
  set(tools --hostile $<TARGET_FILE:hostile> --echo-load $<TARGET_FILE:echo_load>)
  set(names)
  if(TARGET corio-echo AND TARGET echo_load)
    foreach(mode coroutines callbacks)
      add_test(NAME soak_echo_${mode}
               COMMAND bash ${script} ${tools} echo $<TARGET_FILE:corio-echo> --mode ${mode})
      list(APPEND names soak_echo_${mode})
    endforeach()
    # Coroutines taking a multishot recv's results (corio_multishot_t).
    add_test(NAME soak_echo_coroutines_multishot
             COMMAND bash ${script} ${tools} echo $<TARGET_FILE:corio-echo> --mode coroutines
                     --multishot)
    list(APPEND names soak_echo_coroutines_multishot)
  endif()
  if(TARGET corio-httpd)
    # Short timeouts, so the server's slow-loris and idle defences act within the soak.
    add_test(NAME soak_httpd
             COMMAND bash ${script} ${tools} http $<TARGET_FILE:corio-httpd>
                     --header-timeout 2 --idle-timeout 5)
    list(APPEND names soak_httpd)
  endif()
  if(names)
    # RUN_SERIAL: a load test's timings mean nothing beside other tests on a small machine.
    set_tests_properties(${names} PROPERTIES LABELS soak TIMEOUT 100 RUN_SERIAL TRUE
                         SKIP_RETURN_CODE 77 ENVIRONMENT SOAK_SECONDS=10)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL corio_soak_tests)
