# Checks that a shared library exports exactly its public API:
#   - every symbol it defines in its dynamic symbol table starts with one of PREFIXES;
#   - every function the headers declare with MACRO is among them (a declaration whose
#     definition lost its default visibility would link in-tree, through the static
#     library, and fail for every user of the shared one);
#   - and nothing else: no symbol that no header declares with MACRO.
#   cmake -DLIB=libcorio-http.so -DNM=nm -DMACRO=CORIO_HTTP_API
#         -DPREFIXES=corio_http_,corio_tls_ "-DHEADERS=include/corio/http*.h,include/corio/tls.h"
#         -P check_exports.cmake
# PREFIXES and HEADERS are comma-separated lists (a ';' would not survive add_test);
# HEADERS holds file names or globs, expanded when the check runs (a glob that matches
# nothing adds nothing).
cmake_minimum_required(VERSION 3.16)

foreach(var LIB NM MACRO PREFIXES HEADERS)
  if(NOT ${var})
    message(FATAL_ERROR "check_exports.cmake: pass -D${var}=...")
  endif()
endforeach()
get_filename_component(lib_name ${LIB} NAME)
string(REPLACE "," ";" PREFIXES "${PREFIXES}")
string(REPLACE "," ";" HEADERS "${HEADERS}")
list(JOIN PREFIXES "|" prefix_alt)
set(prefix_regex "^(${prefix_alt})")
list(JOIN PREFIXES "*, " prefix_text)
string(APPEND prefix_text "*")

execute_process(COMMAND ${NM} -D --defined-only ${LIB}
                OUTPUT_VARIABLE nm_out ERROR_VARIABLE nm_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIB} failed (${rc}): ${nm_err}")
endif()

set(exported "")
set(foreign "")
string(REPLACE "\n" ";" lines "${nm_out}")
foreach(line IN LISTS lines)
  if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^ @]+)")
    set(type ${CMAKE_MATCH_1})
    set(name ${CMAKE_MATCH_2})
    if(name MATCHES "${prefix_regex}")
      list(APPEND exported ${name})
    else()
      list(APPEND foreign "${type} ${name}")
    endif()
  elseif(NOT line STREQUAL "")
    message(FATAL_ERROR "check_exports.cmake: cannot read nm line '${line}'")
  endif()
endforeach()

# MACRO <return type> name( ... : the identifier with one of PREFIXES right before the
# first parenthesis (which leaves out the macro's own #define). The macro must stand alone:
# CORIO_API is not CORIO_HTTP_API.
set(declared "")
set(headers "")
foreach(pattern IN LISTS HEADERS)
  file(GLOB matched ${pattern})
  list(APPEND headers ${matched})
endforeach()
foreach(header IN LISTS headers)
  file(READ ${header} text)
  string(REGEX MATCHALL "(^|[^A-Za-z0-9_])${MACRO}[ \t\r\n][^;(]*\\(" decls "${text}")
  foreach(decl IN LISTS decls)
    if(decl MATCHES "((${prefix_alt})[A-Za-z0-9_]*)[ \t\r\n]*\\($")
      list(APPEND declared ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES declared)

set(missing "")
foreach(name IN LISTS declared)
  if(NOT name IN_LIST exported)
    list(APPEND missing ${name})
  endif()
endforeach()

set(undeclared "")
foreach(name IN LISTS exported)
  if(NOT name IN_LIST declared)
    list(APPEND undeclared ${name})
  endif()
endforeach()

list(LENGTH exported n_exported)
list(LENGTH declared n_declared)
list(LENGTH headers n_headers)
set(failed FALSE)
if(foreign)
  list(JOIN foreign "\n  " text)
  message(SEND_ERROR "${lib_name} exports symbols outside ${prefix_text} "
                     "(give them static linkage, or hidden visibility):\n  ${text}")
  set(failed TRUE)
endif()
if(missing)
  list(JOIN missing "\n  " text)
  message(SEND_ERROR "declared ${MACRO} in the headers but not exported by ${lib_name} "
                     "(is ${MACRO} on the declaration the definition sees?):\n  ${text}")
  set(failed TRUE)
endif()
if(undeclared)
  list(JOIN undeclared "\n  " text)
  message(SEND_ERROR "${lib_name} exports symbols no public header declares ${MACRO} "
                     "(internal functions must not be ${MACRO}):\n  ${text}")
  set(failed TRUE)
endif()
if(n_declared EQUAL 0)
  list(JOIN HEADERS ", " text)
  message(SEND_ERROR "no ${MACRO} declarations found in ${text} (${n_headers} headers)")
  set(failed TRUE)
endif()
if(failed)
  message(FATAL_ERROR "${lib_name}'s exports do not match the public API")
endif()
message(STATUS "${lib_name} exports ${n_exported} symbols, all ${prefix_text}; "
               "exactly the ${n_declared} ${MACRO} functions of ${n_headers} public headers")
