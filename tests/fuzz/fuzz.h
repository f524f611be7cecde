/* The libFuzzer entry point every target defines (tests/fuzz/run.sh links libFuzzer's
 * main; replay.c is the main of the regression runner). */
#ifndef CORIO_FUZZ_H
#define CORIO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
