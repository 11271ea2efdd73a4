# SPDX-License-Identifier: BSD-2-Clause
# kbhyve build. `make` builds the programs; `make SAN=1` builds the same with ASan/UBSan into build-san/.
CC ?= gcc
SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT = -O1
else
BUILD ?= build
SANFLAGS =
OPT = -O2 -D_FORTIFY_SOURCE=2
endif

WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
       -Wno-unused-parameter
CFLAGS ?=
CFLAGS += -std=gnu11 -g $(OPT) $(WARN) -D_GNU_SOURCE -Isrc -fstack-protector-strong -fPIE \
	  $(SANFLAGS) -MMD -MP
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SANFLAGS)
LDLIBS += -lpthread -luring
# the sandbox's system-call filters (src/sandbox/): libseccomp (LGPL-2.1)
LDLIBS += -lseccomp
# fbuf's VNC server: zlib for ZRLE, nettle (LGPL-3+) for VNC authentication's DES.
LDLIBS += -lz -lnettle
# checkpoint and restore: jansson (MIT) reads and writes the snapshot's .meta JSON
LDLIBS += -ljansson
# vm (the manager) talks netlink through libnl-route.
NL_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0 2>/dev/null || echo -I/usr/include/libnl3)
NL_LIBS := $(shell pkg-config --libs libnl-route-3.0 2>/dev/null || echo -lnl-route-3 -lnl-3)
CFLAGS += $(NL_CFLAGS)
# vm console --web: libwebsockets (MIT) serves the page and bridges WebSockets to VNC.
WS_LIBS := $(shell pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets)
# vm iso/img URL: libcurl (curl licence, MIT-style) downloads, nettle (LGPL-3+) checks SHA-256.
DL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl) -lnettle

# Every .c under src/ except the programs' own folders is part of the VMM library.
PROGS := bhyve bhyvectl
PROG_DIRS := $(PROGS:%=src/%/) src/vm/ src/efi/ src/webconsole/
LIB_SRCS := $(filter-out $(PROG_DIRS:%=%%),$(wildcard src/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)

# vm, the manager: src/vm/ plus the control-socket client; it drives bhyve only through its
# command line and control socket. Its modules (all but main.c) are also linked into its unit tests.
VM_OBJS := $(filter-out $(BUILD)/src/vm/main.o,$(patsubst %.c,$(BUILD)/%.o,$(wildcard src/vm/*.c))) \
	   $(BUILD)/src/ctl/ctlclient.o $(BUILD)/src/ctl/ctlproto.o $(BUILD)/src/ctl/ctlsocket.o $(BUILD)/src/ctl/migconnect.o \
	   $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/webconsole/*.c))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

GUEST_SRCS := $(wildcard tests/guests/*.S)
GUEST_BINS := $(GUEST_SRCS:tests/guests/%.S=$(BUILD)/guests/%.bin)

.PHONY: all tests guests clean check format novnc
all: $(foreach p,$(PROGS),$(if $(wildcard src/$(p)/*.c),$(BUILD)/$(p))) $(BUILD)/vm \
     $(BUILD)/efi/grubshim.efi

tests: all $(UNIT_BINS) guests
guests: $(GUEST_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Each program: the objects of src/PROG/ plus the library.
.SECONDEXPANSION:
$(PROGS:%=$(BUILD)/%): $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard src/$$(notdir $$@)/*.c)) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/vm: $(BUILD)/src/vm/main.o $(VM_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(NL_LIBS) $(WS_LIBS) $(DL_LIBS)

# Unit tests of the manager (test_vm_*.c) link its modules instead of the VMM library.
$(BUILD)/tests/test_vm_%: $(BUILD)/tests/unit/test_vm_%.o $(VM_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(NL_LIBS) $(WS_LIBS) $(DL_LIBS) -lcmocka

# vm's loader="grub" starts GRUB through this EFI application (a guest binary: PE32+, built with
# clang and lld-link; see src/efi/grubshim.c).
EFI_CFLAGS := -target x86_64-unknown-windows -ffreestanding -fshort-wchar -mno-red-zone \
	      -fno-stack-protector -O2 -Wall -Wextra -Werror
$(BUILD)/efi/grubshim.efi: src/efi/grubshim.c
	@mkdir -p $(dir $@)
	clang $(EFI_CFLAGS) -c $< -o $(BUILD)/efi/grubshim.obj
	lld-link /nologo /subsystem:efi_application /entry:efi_main /nodefaultlib \
		$(BUILD)/efi/grubshim.obj /out:$@

# Unit tests share the fake-VM harness in tests/unit/vm_harness.c.
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/vm_harness.o $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Tiny guests: flat binaries loaded with -o boot.raw=FILE (real mode at boot.raw.addr).
$(BUILD)/guests/%.bin: tests/guests/%.S
	@mkdir -p $(dir $@)
	$(CC) -c -nostdlib -o $(BUILD)/guests/$*.o $<
	ld -m elf_x86_64 -Ttext=0x8000 -o $(BUILD)/guests/$*.elf $(BUILD)/guests/$*.o
	objcopy -O binary -j .text $(BUILD)/guests/$*.elf $@

# Every test: unit and tiny-guest tests under ASan/UBSan, then real guests in the nested test bed.
check:
	tests/run-tests.sh

# The browser console's noVNC (npm registry, pinned and checked; cached in $KBHYVE_CACHE).
novnc:
	tools/fetch-novnc.sh share/web/novnc

format:
	clang-format -i $(wildcard src/*/*.[ch] tests/unit/*.[ch])

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# libFuzzer targets (clang): make fuzz, make fuzz-run
include tests/fuzz/fuzz.mk

# ---- make install (vm manager helper) ----
# Programs to $(PREFIX)/sbin, sample templates to $(PREFIX)/share/kbhyve/templates, the browser
# console's page and noVNC to $(PREFIX)/share/kbhyve/web, the systemd
# unit (vm startall/stopall) to $(SYSTEMDDIR), the man pages (bhyve.8, bhyvectl.8, vm.8,
# bhyve_config.5) to $(MANDIR). DESTDIR for packaging.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
SHAREDIR ?= $(PREFIX)/share/kbhyve
MANDIR ?= $(PREFIX)/share/man
SYSTEMDDIR ?= /etc/systemd/system
.PHONY: install
install: build/bhyve build/bhyvectl build/vm build/efi/grubshim.efi novnc
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SHAREDIR)/templates $(DESTDIR)$(SYSTEMDDIR)
	install -m 755 build/bhyve build/bhyvectl build/vm $(DESTDIR)$(SBINDIR)/
	install -m 644 share/templates/* $(DESTDIR)$(SHAREDIR)/templates/
	install -d $(DESTDIR)$(SHAREDIR)/efi
	install -m 644 build/efi/grubshim.efi $(DESTDIR)$(SHAREDIR)/efi/
	rm -rf $(DESTDIR)$(SHAREDIR)/web && install -d $(DESTDIR)$(SHAREDIR)/web
	cp -R share/web/. $(DESTDIR)$(SHAREDIR)/web/
	sed 's|@SBINDIR@|$(SBINDIR)|g' share/systemd/kbhyve-vm.service > $(DESTDIR)$(SYSTEMDDIR)/kbhyve-vm.service
	chmod 644 $(DESTDIR)$(SYSTEMDDIR)/kbhyve-vm.service
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(wildcard docs/*.8) $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(wildcard docs/*.5) $(DESTDIR)$(MANDIR)/man5/
	install -d $(DESTDIR)$(PREFIX)/share/doc/kbhyve
	install -m 644 LICENSE $(DESTDIR)$(PREFIX)/share/doc/kbhyve/
# ---- end of make install ----
