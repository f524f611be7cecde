# libcorio-http: TLS and HTTP on top of libcorio, a library of its own so that the core
# keeps depending on liburing alone. Included from the top-level CMakeLists.txt when not
# CORIO_CORE_ONLY. Targets:
#   corio_http          libcorio-http.so (corio::http)
#   corio_http_static   libcorio-http.a  (corio::http_static)
# Sources go in CORIO_HTTP_SOURCES (the parsers in CORIO_HTTP_PARSE_SOURCES); both libraries
# are built from the same objects.
find_package(OpenSSL 3.0 REQUIRED)
find_package(ZLIB REQUIRED)

# The parsers: pure functions on libc alone, which the fuzz targets (tests/fuzz/) compile
# on their own.
set(CORIO_HTTP_PARSE_SOURCES
  engine/http/chunked.c
  engine/http/request.c
  engine/http/response.c
  engine/http/status.c
  engine/http/syntax.c
  engine/http/url.c)
set(CORIO_HTTP_SOURCES ${CORIO_HTTP_PARSE_SOURCES}
  engine/tls.c
  engine/http/client.c
  engine/http/connect.c
  engine/http/server.c
  engine/http/server_io.c
  engine/http/decode.c
  engine/http/pool.c
  engine/http/proxy.c
  engine/http/polite.c)

# Compiled like corio_objects (see there): hidden visibility, so that libcorio-http.so
# exports only what the headers mark CORIO_HTTP_API (CORIO_HTTP_BUILDING makes it
# visibility("default")); and never link-time optimised, because code here may be built
# on the engine's internal headers, whose inline context switch LTO must not see across
# files (engine/fiber.h).
add_library(corio_http_objects OBJECT ${CORIO_HTTP_SOURCES})
target_include_directories(corio_http_objects PUBLIC ${CORIO_PUBLIC_INCLUDE}
                                              PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_compile_definitions(corio_http_objects PRIVATE CORIO_HTTP_BUILDING=1 _GNU_SOURCE)
set_target_properties(corio_http_objects PROPERTIES C_VISIBILITY_PRESET hidden)
target_compile_options(corio_http_objects PRIVATE -fno-lto)
target_link_libraries(corio_http_objects PRIVATE OpenSSL::SSL ZLIB::ZLIB)

add_library(corio_http SHARED $<TARGET_OBJECTS:corio_http_objects>)
set_target_properties(corio_http PROPERTIES OUTPUT_NAME corio-http EXPORT_NAME http
                                            VERSION ${PROJECT_VERSION}
                                            SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(corio_http PUBLIC ${CORIO_PUBLIC_INCLUDE})
# Users of libcorio-http.so call libcorio too (corio_strerror, the loop): corio is public.
# OpenSSL and zlib stay inside (the public headers name neither).
target_link_libraries(corio_http PUBLIC corio PRIVATE OpenSSL::SSL ZLIB::ZLIB)
if(NOT CORIO_SANITIZE)
  target_link_options(corio_http PRIVATE LINKER:--no-undefined)
endif()
add_library(corio::http ALIAS corio_http)

add_library(corio_http_static STATIC $<TARGET_OBJECTS:corio_http_objects>)
set_target_properties(corio_http_static PROPERTIES OUTPUT_NAME corio-http
                                                   EXPORT_NAME http_static)
target_include_directories(corio_http_static PUBLIC ${CORIO_PUBLIC_INCLUDE})
target_link_libraries(corio_http_static PUBLIC corio_static OpenSSL::SSL ZLIB::ZLIB)
add_library(corio::http_static ALIAS corio_http_static)
