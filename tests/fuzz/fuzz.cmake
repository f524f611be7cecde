# Fuzz targets (tests/fuzz/): libcorio-http's request parser, the HTTP response parser, the
# chunked decoder alone and with the encoder (a round trip), and the stream reader. Two kinds
# of test each:
#   fuzz_corpus_NAME  replays the seed corpus (and every crash kept there) through the
#                     target, built with the normal compiler: part of every test run
#   fuzz_NAME         libFuzzer for CORIO_FUZZ_SECONDS (default 20) with clang; only in the
#                     unsanitized build (it brings its own ASan + UBSan); skipped without
#                     clang's libFuzzer runtime
set(CORIO_FUZZ_SECONDS 20 CACHE STRING "Seconds each libFuzzer test runs")
set(fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

# NAME_SOURCES: the target's own file and what it fuzzes; NAME_HTTP: it fuzzes
# libcorio-http's parsers (CORIO_HTTP_PARSE_SOURCES); NAME_ENGINE: it needs the engine.
set(fuzz_http_request_SOURCES ${fuzz_dir}/fuzz_http_request.c)
set(fuzz_http_request_HTTP ON)
set(fuzz_http_response_SOURCES ${fuzz_dir}/fuzz_http_response.c)
set(fuzz_http_response_HTTP ON)
set(fuzz_http_chunked_SOURCES ${fuzz_dir}/fuzz_http_chunked.c)
set(fuzz_http_chunked_HTTP ON)
set(fuzz_http_chunked_roundtrip_SOURCES ${fuzz_dir}/fuzz_http_chunked_roundtrip.c)
set(fuzz_http_chunked_roundtrip_HTTP ON)
set(fuzz_stream_SOURCES ${fuzz_dir}/fuzz_stream.c)
set(fuzz_stream_ENGINE ON)

foreach(name http_request http_response http_chunked http_chunked_roundtrip stream)
  set(target fuzz_${name})
  add_executable(${target}_replay ${fuzz_dir}/replay.c ${${target}_SOURCES})
  target_include_directories(${target}_replay PRIVATE ${fuzz_dir})
  target_compile_definitions(${target}_replay PRIVATE _GNU_SOURCE)
  if(${target}_HTTP)
    target_link_libraries(${target}_replay PRIVATE corio_http_static)
  endif()
  target_link_libraries(${target}_replay PRIVATE corio_static)
  add_test(NAME fuzz_corpus_${name}
           COMMAND ${target}_replay ${fuzz_dir}/corpus/${name})
  set_tests_properties(fuzz_corpus_${name} PROPERTIES LABELS fuzz TIMEOUT 120)

  if(NOT CORIO_SANITIZE AND NOT CORIO_FAULT_INJECTION)
    set(sources ${${target}_SOURCES})
    if(${target}_HTTP)
      list(APPEND sources ${CORIO_HTTP_PARSE_SOURCES}) # instrumented with the target
    endif()
    if(${target}_ENGINE)
      list(APPEND sources ${CORIO_SOURCES}) # the engine, instrumented with the target
    endif()
    list(TRANSFORM sources PREPEND ${PROJECT_SOURCE_DIR}/ REGEX "^engine/")
    add_test(NAME fuzz_${name}
             COMMAND bash ${fuzz_dir}/run.sh ${name} ${CORIO_FUZZ_SECONDS}
                     ${CMAKE_CURRENT_BINARY_DIR}/fuzz ${sources})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77
                         TIMEOUT 600)
  endif()
endforeach()
