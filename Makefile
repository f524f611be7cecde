# The README's commands. CMake does the building; this file only sequences it.
#   make run     install missing packages, build, run the main demo
#   make test    install, build (plain, ASan+UBSan, aarch64 under qemu), run every test
#   make bench   build optimised benchmarks and run them with their baselines
#   make soak    build, then soak every server under hostile clients (SOAK_SECONDS=300 each)
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan build-aarch64 run test bench soak clean format

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

# The demo: corio-httpd on a free loopback port, corio-fetch loading it (examples/run_demo.sh).
run: build
	@examples/run_demo.sh build

test: build build-asan build-aarch64
	@.ci/test build build-asan build-aarch64 epoll:build epoll:build-asan

bench:
	@.ci/deps bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCORIO_BUILD_BENCH=ON \
	  -DCORIO_BUILD_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@bench/run.sh build-bench

# The long soak (tests/soak/soak.sh): each server under well-behaved and hostile clients at
# once, then checked for exact bytes, leaked fds and memory, and a clean SIGTERM. ctest's
# label "soak" runs the same for 10 s a server; the server flags match tests/soak/soak.cmake.
SOAK_SECONDS ?= 300
SOAK = SOAK_SECONDS=$(SOAK_SECONDS) bash tests/soak/soak.sh --hostile build/tests/soak/hostile \
       --echo-load build/bench/echo_load
soak: build
	@status=0; \
	$(SOAK) echo build/examples/corio-echo --mode coroutines || status=1; \
	$(SOAK) echo build/examples/corio-echo --mode coroutines --multishot || status=1; \
	$(SOAK) echo build/examples/corio-echo --mode callbacks || status=1; \
	if [ -x build/examples/corio-httpd ]; then \
	  $(SOAK) http build/examples/corio-httpd --header-timeout 2 --idle-timeout 5 || status=1; \
	fi; \
	exit $$status

format:
	@clang-format -i $$(git ls-files '*.c' '*.h' '*.cc')

clean:
	rm -rf build build-asan build-aarch64 build-bench
