# Tests of the io_uring engine (not built for the qemu cross run).
foreach(name test_timer test_loop test_xloop test_backend test_op test_bufring test_multishot test_task test_many_tasks test_syscalls test_sync test_executor test_net test_stream test_signal test_process)
  corio_test(${name} SOURCES support.c LABELS engine)
endforeach()

# Injected failures: only where the engine was built with its fault points.
if(CORIO_FAULT_INJECTION)
  corio_test(test_fault SOURCES support.c LABELS engine fault)
endif()

# Tests of libcorio-http (engine/http/): pure functions, no loop needed.
foreach(name test_http_errors test_http_url test_http_request test_http_chunked test_http_response)
  corio_test(${name} LINK corio_http_static LABELS http)
endforeach()

# TLS (engine/tls.c, in libcorio-http) between tasks of one loop, with throw-away
# certificates that the fixture tls_certs makes with the openssl command before the first
# test that needs them (tests/make_certs.sh).
set(CORIO_TEST_CERTS ${CMAKE_CURRENT_BINARY_DIR}/certs)
add_test(NAME tls_certs COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/make_certs.sh ${CORIO_TEST_CERTS})
set_tests_properties(tls_certs PROPERTIES FIXTURES_SETUP tls_certs LABELS http TIMEOUT 60)
corio_test(test_tls SOURCES support.c LINK corio_http_static LABELS http)
set_tests_properties(test_tls PROPERTIES FIXTURES_REQUIRED tls_certs
                     ENVIRONMENT CORIO_TEST_CERTS=${CORIO_TEST_CERTS})

# The HTTP server core (engine/http/server*.c) through its header, with clients on the same
# loop; its TLS test uses the tls_certs fixture's certificates.
corio_test(test_http_server SOURCES support.c LINK corio_http_static LABELS http TIMEOUT 60)
set_tests_properties(test_http_server PROPERTIES FIXTURES_REQUIRED tls_certs
                     ENVIRONMENT CORIO_TEST_CERTS=${CORIO_TEST_CERTS})

# The HTTP client (engine/http/client.c, pool.c, decode.c) against scripted peers: tasks of
# the client's own loop on 127.0.0.1.
corio_test(test_http_client SOURCES support.c LINK corio_http_static LABELS http)

# How the client reaches a host (engine/http/connect.c, pool.c): the RFC 8305 race over
# pinned addresses against listeners, refusing addresses and black holes on loopback
# addresses, the DNS cache's lifetime.
corio_test(test_http_connect SOURCES support.c LINK corio_http_static LABELS http)
# The client's politeness to hosts (engine/http/polite.c): host_rate and Retry-After
# against recording servers on the loop, and the Retry-After parser. No memcheck_ variant:
# it resolves "localhost" on the executor's thread, which valgrind would serialise with the
# loop's wait in the kernel (see tests/CMakeLists.txt).
corio_test(test_http_polite SOURCES support.c LINK corio_http_static LABELS http)

# The client's proxies (engine/http/proxy.c): URLs, no_proxy, the environment, the pick and
# its back-off, and scripted proxies on the loop (the CONNECT case with the tls_certs
# fixture's certificates).
corio_test(test_http_proxy SOURCES support.c LINK corio_http_static LABELS http)
set_tests_properties(test_http_proxy PROPERTIES FIXTURES_REQUIRED tls_certs
                     ENVIRONMENT CORIO_TEST_CERTS=${CORIO_TEST_CERTS})

# How the tools start (tests/test_tool_start.sh): their listening line, and their failure
# where io_uring is blocked, under no_uring's seccomp filter (tests/no_uring.c), and on a
# port in use. The tools are the examples' targets, defined after tests/: register the test
# at the end of the top-level directory, when `if(TARGET ...)` can see them.
add_executable(no_uring no_uring.c)
function(corio_tool_start_test)
  if(TARGET corio-echo AND TARGET corio-httpd AND TARGET corio-kv)
    add_test(NAME test_tool_start
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_tool_start.sh $<TARGET_FILE:no_uring>
                     $<TARGET_FILE:corio-echo> $<TARGET_FILE:corio-httpd> $<TARGET_FILE:corio-kv>)
    set_tests_properties(test_tool_start PROPERTIES LABELS examples TIMEOUT 300
                                                    SKIP_RETURN_CODE 77)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL corio_tool_start_test)

# corio-fetch against a real nginx with TLS, gzip and redirects (tests/test_fetch_nginx.sh),
# with the tls_certs fixture's certificates. Deferred like test_tool_start: corio-fetch is an
# examples/ target.
function(corio_fetch_nginx_test)
  if(TARGET corio-fetch)
    add_test(NAME test_fetch_nginx
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_fetch_nginx.sh
                     $<TARGET_FILE:corio-fetch>)
    set_tests_properties(test_fetch_nginx PROPERTIES LABELS fetch TIMEOUT 300 SKIP_RETURN_CODE 77
                         FIXTURES_REQUIRED tls_certs
                         ENVIRONMENT CORIO_TEST_CERTS=${PROJECT_BINARY_DIR}/tests/certs)
  endif()
  # corio-httpd over HTTPS with curl, Python's ssl and nginx (tests/test_httpd_tls.sh).
  if(TARGET corio-httpd)
    add_test(NAME test_httpd_tls
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_httpd_tls.sh $<TARGET_FILE:corio-httpd>)
    set_tests_properties(test_httpd_tls PROPERTIES LABELS servers TIMEOUT 300 SKIP_RETURN_CODE 77
                         FIXTURES_REQUIRED tls_certs
                         ENVIRONMENT CORIO_TEST_CERTS=${PROJECT_BINARY_DIR}/tests/certs)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL corio_fetch_nginx_test)

# corio-fetch -i streamed: a million URLs in bounded memory, slow stdin, bad lines, -o
# duplicates (tests/test_fetch_input.sh), against corio-httpd. Deferred: examples/ targets.
function(corio_fetch_input_test)
  if(TARGET corio-fetch AND TARGET corio-httpd)
    add_test(NAME test_fetch_input
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_fetch_input.sh
                     $<TARGET_FILE:corio-fetch> $<TARGET_FILE:corio-httpd>)
    set_tests_properties(test_fetch_input PROPERTIES LABELS fetch TIMEOUT 180)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL corio_fetch_input_test)

# corio-fetch's latency histogram (examples/fetch/hist.c), compiled in: a pure module.
corio_test(test_fetch_hist SOURCES ${PROJECT_SOURCE_DIR}/examples/fetch/hist.c LABELS fetch)
target_include_directories(test_fetch_hist PRIVATE ${PROJECT_SOURCE_DIR}/examples/fetch)

# The idle-connection memory measurement (bench/idle_conns, bench/idle_memory.sh) with 200
# connections against corio-echo and epoll_echo: connections echoed and held, figures that
# parse; no memory target. Deferred: corio-echo is an examples/ target, the tools come later.
function(corio_idle_memory_test)
  if(TARGET corio-echo AND TARGET epoll_echo AND TARGET idle_conns)
    add_test(NAME test_idle_memory
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/test_idle_memory.sh
                     $<TARGET_FILE:corio-echo> $<TARGET_FILE:epoll_echo> $<TARGET_FILE:idle_conns>)
    set_tests_properties(test_idle_memory PROPERTIES LABELS tools TIMEOUT 120)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL corio_idle_memory_test)
