# Checks that libcorio.so exports exactly corio's public API:
#   - every symbol it defines in its dynamic symbol table is named corio_*;
#   - every function the public headers declare CORIO_API is among them (a declaration
#     whose definition lost its default visibility would link in-tree, through libcorio.a,
#     and fail for every user of the shared library);
#   - and nothing else: no corio_* symbol that no public header declares.
#   cmake -DLIB=libcorio.so -DNM=nm -DHEADERS=include/corio -P check_exports.cmake
cmake_minimum_required(VERSION 3.16)

foreach(var LIB NM HEADERS)
  if(NOT ${var})
    message(FATAL_ERROR "check_exports.cmake: pass -D${var}=...")
  endif()
endforeach()

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
    if(name MATCHES "^corio_")
      list(APPEND exported ${name})
    else()
      list(APPEND foreign "${type} ${name}")
    endif()
  elseif(NOT line STREQUAL "")
    message(FATAL_ERROR "check_exports.cmake: cannot read nm line '${line}'")
  endif()
endforeach()

# CORIO_API <return type> name( ... : the identifier right before the first parenthesis.
set(declared "")
file(GLOB headers ${HEADERS}/*.h)
foreach(header IN LISTS headers)
  file(READ ${header} text)
  string(REGEX MATCHALL "CORIO_API[^;(]*\\(" decls "${text}")
  foreach(decl IN LISTS decls)
    if(decl MATCHES "(corio_[A-Za-z0-9_]*)[ \t\r\n]*\\($")
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
set(failed FALSE)
if(foreign)
  list(JOIN foreign "\n  " text)
  message(SEND_ERROR "${LIB} exports symbols outside the corio_ namespace "
                     "(give them static linkage, or hidden visibility):\n  ${text}")
  set(failed TRUE)
endif()
if(missing)
  list(JOIN missing "\n  " text)
  message(SEND_ERROR "declared CORIO_API in ${HEADERS} but not exported by ${LIB} "
                     "(is CORIO_API on the declaration the definition sees?):\n  ${text}")
  set(failed TRUE)
endif()
if(undeclared)
  list(JOIN undeclared "\n  " text)
  message(SEND_ERROR "${LIB} exports corio_ symbols no public header declares CORIO_API "
                     "(internal functions must not be CORIO_API):\n  ${text}")
  set(failed TRUE)
endif()
if(n_declared EQUAL 0)
  message(SEND_ERROR "no CORIO_API declarations found in ${HEADERS}")
  set(failed TRUE)
endif()
if(failed)
  message(FATAL_ERROR "libcorio.so's exports do not match the public API")
endif()
message(STATUS "libcorio.so exports ${n_exported} symbols, all corio_*; "
               "exactly the ${n_declared} CORIO_API functions of the public headers")
