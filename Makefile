# Thin wrapper around apt-get, CMake and CTest. Everything real lives in CMakeLists.txt.
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
# CI=true (set by CI and .ci/run) turns warnings into errors.
WERROR := $(if $(filter true 1 yes,$(CI)),ON,OFF)
PORT ?= 9000
TARGET ?=
ARGS ?=

# Debian 12 packages: toolchain, libraries, and the servers and tools the tests run.
# libboost1.81-dev only: it conflicts with (and replaces) the default libboost-dev 1.74.
DEPS := cmake g++ make ccache pkg-config \
        libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
        libboost1.81-dev libssl-dev prometheus-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev \
        openssl netcat-openbsd iproute2 procps util-linux \
        prometheus python3-grpcio yamllint haproxy

.PHONY: all deps configure build run test bench bench-fleet clean format

all: build

# Installs only what is missing; silent when everything is there.
deps:
	@missing=$$(for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    $$missing </dev/null; \
	fi

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLB_WERROR=$(WERROR) >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# With no TARGET: two demo sinks on 127.0.0.1:9997 and :9998 and the data plane in front.
run: build
	@BUILD=$(BUILD) PORT=$(PORT) TARGET=$(TARGET) tests/tools/demo.sh $(ARGS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure --timeout 600 -j$(JOBS)

# Throughput and latency: direct, json-tcp-lb and HAProxy on loopback (a few minutes).
# Table on stdout, JSON in $(BUILD)/bench/results.json. BENCH_ARGS=--latency: latency only;
# --help for the rest.
BENCH_ARGS ?=
bench: build
	/usr/bin/python3 tests/bench/run_bench.py --build $(BUILD) $(BENCH_ARGS)

# lb-controlplane: how fast a fleet of 50 data planes converges (initial push, file change,
# control-plane restart, all data planes restart) and its CPU and memory (about 15 s).
# Table on stdout, JSON in $(BUILD)/bench/fleet.json. FLEET_ARGS='--planes 5'; --help.
FLEET_ARGS ?=
bench-fleet: build
	/usr/bin/python3 tests/bench/run_fleet_bench.py --build $(BUILD) $(FLEET_ARGS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
