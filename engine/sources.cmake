# Engine sources beyond the coroutine core (included by the top-level CMakeLists.txt).
list(APPEND CORIO_SOURCES)
