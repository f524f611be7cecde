# Engine sources beyond the coroutine core (included by the top-level CMakeLists.txt).
list(APPEND CORIO_SOURCES
  engine/backend_epoll.c
  engine/bufring.c
  engine/error.c
  engine/executor.c
  engine/fault.c
  engine/future.c
  engine/loop.c
  engine/multishot.c
  engine/net.c
  engine/op.c
  engine/process.c
  engine/ring.c
  engine/signal.c
  engine/stream.c
  engine/sync.c
  engine/task.c
  engine/timer.c)
