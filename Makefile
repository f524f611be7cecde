# The README's commands. CMake does the building; this file only sequences it.
#   make run     install missing packages, build, run the main demo
#   make test    install, build (plain, ASan+UBSan, aarch64 under qemu), run every test
#   make bench   build optimised benchmarks and run them with their baselines
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan build-aarch64 run test bench clean format

all: build

deps:
	@.ci/deps

build: deps
	@cmake -S . -B build $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCORIO_SANITIZE=ON -DCORIO_FAULT_INJECTION=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j $(JOBS)

# qemu-user has no io_uring: the aarch64 build is the context switch and stacks.
build-aarch64: deps
	@cmake -S . -B build-aarch64 -DCORIO_CORE_ONLY=ON \
	  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake >/dev/null
	@cmake --build build-aarch64 -j $(JOBS)

run: build
	@./build/examples/hello_modes

test: build build-asan build-aarch64
	@.ci/test build build-asan build-aarch64

bench:
	@.ci/deps bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_BENCH=ON \
	  -DCORIO_BUILD_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@bench/run.sh build-bench

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

clean:
	rm -rf build build-asan build-aarch64 build-bench
