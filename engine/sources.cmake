# Engine sources beyond the coroutine core (included by the top-level CMakeLists.txt).
list(APPEND CORIO_SOURCES
  engine/error.c
  engine/future.c
  engine/loop.c
  engine/op.c
  engine/ring.c
  engine/task.c
  engine/timer.c)
