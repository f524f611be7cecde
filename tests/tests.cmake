# Tests of the io_uring engine (not built for the qemu cross run).
foreach(name test_timer test_loop test_op test_bufring test_multishot test_task test_syscalls test_sync test_executor test_net test_stream test_signal)
  corio_test(${name} SOURCES support.c LABELS engine)
endforeach()

# Injected failures: only where the engine was built with its fault points.
if(CORIO_FAULT_INJECTION)
  corio_test(test_fault SOURCES support.c LABELS engine fault)
endif()

# Tests of libcorio-http (engine/http/): pure functions, no loop needed.
foreach(name test_http_errors test_http_url test_http_request test_http_chunked)
  corio_test(${name} LINK corio_http_static LABELS http)
endforeach()
