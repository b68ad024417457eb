# fixlua — the two commands of the README, and a few more.
#   make demo   install what is missing, build, run the demo
#   make test   install what is missing, build, run every test (C units, busted specs, fuzz
#               corpus replay), then again under AddressSanitizer + UndefinedBehaviorSanitizer
# Debian packages are installed with apt-get when missing (run as root, as on CI).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DEBS = cmake pkg-config gcc g++ make luajit libluajit-5.1-dev libevent-dev libssl-dev lua-busted \
       libexpat1-dev clang libclang-rt-14-dev libquickfix-dev

.PHONY: deps build demo codec-demo test test-asan fuzz bench clean

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIXLUA_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)

# An exchange and a client trading 1000 orders over loopback, then logging out.
demo: build
	$(BUILD)/fixlua run examples/trading/config.lua

codec-demo: build
	$(BUILD)/examples/codec_demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan

# The same tests (C units, corpus replay, busted specs with the runtimes preloaded into
# luajit) under ASan/UBSan, stopping at the first report.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFIXLUA_WERROR=ON \
	      -DFIXLUA_SANITIZE=address,undefined -DFIXLUA_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -E '^interop_quickfix$$'

# libFuzzer targets (clang); run one with e.g. build-fuzz/core/fuzz/fuzz_frame -max_total_time=600
fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIXLUA_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)

bench: build
	@for b in $(BUILD)/bench/*; do [ -x "$$b" ] && [ -f "$$b" ] && echo "== $$b" && taskset -c 0 "$$b"; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
