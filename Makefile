# Thin wrapper around apt-get, CMake and CTest. Everything real lives in CMakeLists.txt.
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
# CI=true (set by CI and .ci/run) turns warnings into errors.
WERROR := $(if $(filter true 1 yes,$(CI)),ON,OFF)
PORT ?= 9000
TARGET ?=
ARGS ?=

# Debian 12 packages. libboost1.81-dev only: it conflicts with (and replaces) the default
# libboost-dev 1.74.
# The three binaries alone (what the container image's build stage installs: deps-build).
BUILD_DEPS := cmake g++ make pkg-config \
        libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev \
        libboost1.81-dev libssl-dev prometheus-cpp-dev
# Everything this Makefile builds, and `make run` (its demo prints nc commands).
DEV_DEPS := $(BUILD_DEPS) ccache libgtest-dev libgmock-dev libbenchmark-dev \
        netcat-openbsd procps util-linux
# clang++-14 and libFuzzer's runtime (only recommended by clang-14) for the fuzz targets.
FUZZ_DEPS := clang-14 libclang-rt-14-dev
# And the servers and tools the tests and benchmarks run.
TEST_DEPS := $(DEV_DEPS) $(FUZZ_DEPS) openssl iproute2 prometheus python3-grpcio yamllint \
        haproxy podman runc debootstrap systemd
# The Go original's compiler, for make bench only (its third peer; skipped when missing).
BENCH_DEPS := golang-go
# Commands that may come from outside Debian (nodesource's nodejs has npm): Debian's package
# is installed only when the command is missing.
TEST_COMMANDS := npm

.PHONY: all deps deps-build deps-dev configure build run test test-sanitize bench bench-fleet \
        fuzz soak clean format

all: build

# Installs only what is missing; silent when everything is there. $(1): packages, $(2): commands.
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	  done; for c in $(2); do command -v $$c >/dev/null 2>&1 || echo $$c; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    $$missing </dev/null; \
	fi
endef

deps-build:
	$(call install_missing,$(BUILD_DEPS),)

deps-dev:
	$(call install_missing,$(DEV_DEPS),)

deps:
	$(call install_missing,$(TEST_DEPS),$(TEST_COMMANDS))

configure: deps-dev
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DLB_WERROR=$(WERROR) >/dev/null

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# With no TARGET: two demo sinks on 127.0.0.1:9997 and :9998 and the data plane in front.
run: build
	@BUILD=$(BUILD) PORT=$(PORT) TARGET=$(TARGET) tests/tools/demo.sh $(ARGS)

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure --timeout 600 -j$(JOBS)

# Throughput and latency: direct, json-tcp-lb, HAProxy, the Go original (built from
# ../shared/peers/go-json-tcp-lb) and lb-relay, a do-nothing proxy, on loopback (a few minutes).
# Table on stdout, JSON in $(BUILD)/bench/results.json. BENCH_ARGS=--latency: latency only;
# --help for the rest.
BENCH_ARGS ?=
bench: deps build
	$(call install_missing,$(BENCH_DEPS),)
	/usr/bin/python3 tests/bench/run_bench.py --build $(BUILD) $(BENCH_ARGS)

# lb-controlplane: how fast a fleet of 50 data planes converges (initial push, file change,
# control-plane restart, all data planes restart) and its CPU and memory (about 15 s).
# Table on stdout, JSON in $(BUILD)/bench/fleet.json. FLEET_ARGS='--planes 5'; --help.
FLEET_ARGS ?=
bench-fleet: build
	/usr/bin/python3 tests/bench/run_fleet_bench.py --build $(BUILD) $(FLEET_ARGS)

# The libFuzzer targets (tests/fuzz, built with clang in $(BUILD)/fuzz): each of the five runs
# FUZZ_SECONDS on a copy of its seed corpus, 300 s by default, so about 25 minutes in all;
# fails and prints the reproducer if one crashes. ctest's fuzz_smoke runs them 15 s each.
FUZZ_SECONDS ?= 300
fuzz:
	$(call install_missing,$(DEV_DEPS) $(FUZZ_DEPS),)
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(BUILD)/fuzz JOBS=$(JOBS) tests/fuzz/run_fuzzers.sh

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the data-plane and
# control tests under ThreadSanitizer, each in a build of its own ($(BUILD)/sanitize-*). make
# test runs them too (ctest -L sanitize); this runs only them.
test-sanitize: deps build
	ctest --test-dir $(BUILD) --output-on-failure -L sanitize

# Mixed traffic, restarted and killed targets, live changes and slow clients on every port for
# SOAK_MINUTES; prints RSS and descriptors over time and fails on a lost line or growth.
SOAK_MINUTES ?= 10
soak: deps build
	/usr/bin/python3 tests/tools/soak.py --build $(BUILD) --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD)
