# Death test for emulated (qemu-user) runs, where a test cannot fork: runs CMD, expects
# it to die with the RESULT that CMake reports for the signal (e.g. "Subprocess aborted") and
# to print something matching STDERR_REGEX on standard error.
#   cmake -DCMD="emu;exe;--child;name" -DRESULT="Child aborted" -DSTDERR_REGEX=... -P this
execute_process(COMMAND ${CMD} RESULT_VARIABLE result ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT result STREQUAL RESULT)
  message(FATAL_ERROR "expected '${RESULT}', got '${result}'; stderr:\n${err}")
endif()
if(DEFINED STDERR_REGEX AND NOT err MATCHES "${STDERR_REGEX}")
  message(FATAL_ERROR "stderr does not match '${STDERR_REGEX}':\n${err}")
endif()
if(DEFINED STDERR_NOT_REGEX AND err MATCHES "${STDERR_NOT_REGEX}")
  message(FATAL_ERROR "stderr matches '${STDERR_NOT_REGEX}':\n${err}")
endif()
message(STATUS "died as expected: ${result}")
