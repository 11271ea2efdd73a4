# SPDX-License-Identifier: BSD-2-Clause
# libFuzzer targets (included from the Makefile).
#   make fuzz                     build every tests/fuzz/fuzz_*.c into build-fuzz/fuzz_*
#   make fuzz-run [FUZZ_SECONDS=10]   run each for FUZZ_SECONDS (2 at a time), then replay the
#                                 regression inputs in tests/fuzz/regressions/; fails on any crash
#   make fuzz-long [FUZZ_LONG_SECONDS=3600]   a deep campaign: each target for FUZZ_LONG_SECONDS,
#                                 new inputs kept in tests/fuzz/corpus/NAME (commit them)
# The library is rebuilt with clang and -fsanitize=fuzzer-no-link (coverage), ASan and UBSan,
# and linked with the Makefile's LDLIBS. Every ioctl() goes through tests/fuzz/fake_kvm.c
# (--wrap=ioctl), which answers the stand-in KVM VM descriptor and passes the rest on.
# Keep the including Makefile's default goal wherever this file is included.
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 3600
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=gnu11 -g -O1 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wno-unused-parameter \
	-D_GNU_SOURCE -Isrc $(FUZZ_SAN) -MMD -MP

# The library: every src/*/*.c but program entry points (src/bhyve/main.c, src/bhyvectl/main.c...),
# vm, and the EFI shim (a guest binary).
FUZZ_LIB_SRCS := $(filter-out src/bhyve/main.c $(wildcard src/*/main.c) $(wildcard src/vm/*.c) \
		 $(wildcard src/efi/*.c) $(wildcard src/webconsole/*.c),$(wildcard src/*/*.c))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
# tests/fuzz/fuzz_*.c are the targets; the other .c files there are shared by all of them.
FUZZ_TARGET_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_COMMON_SRCS := $(filter-out $(FUZZ_TARGET_SRCS),$(wildcard tests/fuzz/*.c))
FUZZ_COMMON_OBJS := $(FUZZ_COMMON_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS := $(FUZZ_TARGET_SRCS:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
# objects reached only through pattern rules: keep them for incremental builds
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_COMMON_OBJS) $(FUZZ_TARGET_SRCS:%.c=$(FUZZ_BUILD)/%.o)

.PHONY: fuzz fuzz-run fuzz-long fuzz-clean
fuzz: $(FUZZ_BINS)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJS) $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -Wl,--wrap=ioctl -o $@ $^ $(LDLIBS) -lpthread

fuzz-run: fuzz
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)

fuzz-long: fuzz
	FUZZ_KEEP_CORPUS=1 tests/fuzz/run.sh $(FUZZ_LONG_SECONDS) $(FUZZ_BUILD)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
