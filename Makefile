# kiln — the two commands:
#   make run    install what is missing, build, run the examples
#   make test   install what is missing, build, run every test
# Also: make bench, make bench-gpu, make install PREFIX=DIR, make clean.

BUILD ?= build
PREFIX ?= /usr/local
JOBS ?= 2
CMAKE_FLAGS ?=

# Debian packages kiln builds against (checked with dpkg, installed only when missing).
DEPS := cmake ninja-build g++ llvm-19-dev libopenblas-dev libboost-dev libboost-math-dev \
        libfmt-dev libgtest-dev libbenchmark-dev libeigen3-dev libtbb-dev

.PHONY: all deps configure build run test bench bench-gpu install clean

all: build

deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "kiln: installing missing packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@for e in $(BUILD)/examples/example_*; do \
	  echo "== $$e"; $$e || exit 1; \
	done

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Benchmarks build in their own folder so build/ (and `make test`) never
# compile them; only the library and bench_kiln are built there.
BENCH_BUILD ?= build-bench
bench: deps
	cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_BENCH=ON \
	  -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target bench_kiln
	$(BENCH_BUILD)/bench/bench_kiln

# The GPU benchmark (G1, G4, G5, NVRTC; bench/bench_gpu.cpp), in the same
# folder as `make bench`; built only when CMake finds the CUDA toolkit. On a
# machine without a GPU it prints one line saying so.
bench-gpu: deps
	cmake -S . -B $(BENCH_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_BUILD_BENCH=ON \
	  -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_EXAMPLES=OFF $(CMAKE_FLAGS)
	@if ninja -C $(BENCH_BUILD) -t targets all 2>/dev/null | grep -q '^bench_gpu:'; then \
	  cmake --build $(BENCH_BUILD) -j $(JOBS) --target bench_gpu && $(BENCH_BUILD)/bench/bench_gpu; \
	else \
	  echo "bench-gpu: the CUDA toolkit was not found; nothing to build"; \
	fi

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(BENCH_BUILD)
