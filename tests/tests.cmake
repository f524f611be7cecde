# Tests of the io_uring engine (not built for the qemu cross run).
foreach(name test_timer test_loop test_op test_task test_syscalls)
  # While the suite is being written in parallel, register the files that exist.
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c)
    corio_test(${name} SOURCES support.c LABELS engine)
  endif()
endforeach()
