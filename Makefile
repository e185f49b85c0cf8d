# cgpt build. `make` builds build/cgpt; `make test` builds and runs the test suite, then runs it
# again under AddressSanitizer + UndefinedBehaviorSanitizer; `make fuzz` runs the libFuzzer targets.
# One x86-64 binary runs everywhere: only the rung files that need an instruction set are compiled
# for it (flags below), and each rung checks the CPU at run time before it is used.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O3
CFLAGS  ?=
SAN     ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(SAN) -g -Wall -Wextra -Wno-unused-parameter -Isrc -MMD -MP
LDLIBS  += -lm -lpthread -ldl $(SAN)

ARCH := $(shell uname -m)

# Instruction-set flags for the files that need them (x86-64 only).
ifeq ($(ARCH),x86_64)
AVX2_FLAGS   := -mavx2 -mfma
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2
BF16_FLAGS   := $(AVX512_FLAGS) -mavx512bf16
AMX_FLAGS    := $(BF16_FLAGS) -mamx-tile -mamx-bf16
$(BUILD)/src/cpu/matmul/avx2.o:        CFLAGS += $(AVX2_FLAGS)
$(BUILD)/src/cpu/matmul/avx512.o:      CFLAGS += $(AVX512_FLAGS)
$(BUILD)/src/cpu/matmul/bf16.o:        CFLAGS += $(BF16_FLAGS)
$(BUILD)/src/cpu/matmul/amx.o:         CFLAGS += $(AMX_FLAGS)
$(BUILD)/src/cpu/ops/%_avx512.o:       CFLAGS += $(AVX512_FLAGS)
else
# Non-x86 builds keep the portable rungs: the x86 rung files compile to "unavailable" stubs.
endif

LIB_SRC  := $(shell find src -name '*.c' ! -path 'src/cmd/*' ! -name cgpt.c | sort)
CMD_SRC  := $(shell find src/cmd -name '*.c' | sort) src/cgpt.c
TEST_SRC := $(sort $(wildcard tests/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

SHELL := /bin/bash
.PHONY: all test test-fast test-asan fuzz clean bench
all: $(BUILD)/cgpt

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcgpt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cgpt: $(CMD_OBJ) $(BUILD)/libcgpt.a
	$(CC) $(CFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libcgpt.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libcgpt.a tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libcgpt.a $(LDLIBS)

# The suite: unit tests, then command-line tests against the built binary, then the same under
# sanitizers (a separate build folder, smaller inputs where a test checks CGPT_SANITIZE).
test: test-fast test-asan

test-fast: $(BUILD)/cgpt $(TEST_BIN)
	@tests/run_tests.sh $(BUILD)

test-asan:
	$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  build-asan/cgpt $(TEST_SRC:tests/%.c=build-asan/tests/%)
	@CGPT_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1 tests/run_tests.sh build-asan

# libFuzzer targets (clang). FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
fuzz:
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) OPT="-O1" \
	  SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libcgpt.a
	@for f in $(FUZZ_SRC); do \
	  name=$$(basename $$f .c); \
	  echo "== $$name ($(FUZZ_SECONDS) s)"; \
	  $(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -o build-fuzz/$$name $$f build-fuzz/libcgpt.a -lm -lpthread -ldl || exit 1; \
	  mkdir -p build-fuzz/corpus-$$name; \
	  build-fuzz/$$name -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    build-fuzz/corpus-$$name tests/fuzz/seeds/$$name 2>&1 | tail -3; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

bench: $(BUILD)/cgpt
	$(BUILD)/cgpt bench

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/src/data/embedded.o: data/gpt2/encoder.json data/gpt2/vocab.bpe data/tinyshakespeare/input.txt
