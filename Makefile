# ringkv: the two commands are `make run` and `make test` (see README.md).
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)
PORT       ?= 6380
PYTEST     := /usr/bin/python3 -m pytest
FUZZ_SECONDS_SHORT ?= 30
FUZZ_SECONDS_LONG  ?= 3600

.PHONY: all deps build run test test-long unit integration fuzz-short fuzz test-asan bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@mkdir -p data
	./$(BUILD)/ringkv-server --port $(PORT) --dir ./data

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The suite runs on the durable engine (the default), then on the in-memory one.
integration: build
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server $(PYTEST) -q tests/integration
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server RINGKV_TEST_ENGINE=memory $(PYTEST) -q tests/integration

test: unit integration fuzz-short

# The long runs: 200 SIGKILLs of the server under write load (fsync always,
# and 50 with everysec) instead of make test's 20 and 5, a 1 GiB value
# instead of 256 MiB, and 10 minutes of a 5-node cluster under load (no
# member may be marked down) instead of 20 s.
test-long: build
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server RINGKV_CRASH_KILLS=200 $(PYTEST) -q tests/integration/test_crash.py
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server RINGKV_BIG_VALUE_MB=1024 $(PYTEST) -q tests/integration/test_large_values.py
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server RINGKV_CLUSTER_SOAK_S=600 $(PYTEST) -q tests/integration/test_cluster.py -k under_load
	RINGKV_SERVER=$(CURDIR)/$(BUILD)/ringkv-server RINGKV_CHAOS_S=600 $(PYTEST) -q tests/integration/test_cluster_chaos.py

$(BUILD_FUZZ)/.configured:
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DRINGKV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@touch $@

fuzz-build: deps $(BUILD_FUZZ)/.configured
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)

fuzz-short: fuzz-build
	tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS_SHORT)

fuzz: fuzz-build
	tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS_LONG)

test-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DRINGKV_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS)
	RINGKV_SERVER=$(CURDIR)/$(BUILD_ASAN)/ringkv-server RINGKV_ASAN=1 $(PYTEST) -q tests/integration

bench: build
	bench/vs-redis.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
