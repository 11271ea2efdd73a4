/* SPDX-License-Identifier: BSD-2-Clause */
/* Shared pieces of the libFuzzer targets: an input reader, an invariant check that aborts (which
 * libFuzzer reports as a crash with the input that caused it), a VM assembled by hand without
 * KVM, and guest accesses dispatched the way the vCPU threads dispatch port I/O and MMIO exits. */
#ifndef KB_FUZZ_FIXTURE_H
#define KB_FUZZ_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/iobus.h"

struct vm;

/* libFuzzer's entry point (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- input ---- */

/* The fuzzer's bytes, consumed front to back; reads past the end give zeros. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t in_u8(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

/* n (0-8) bytes, little-endian. */
static inline uint64_t in_le(struct fuzz_input *in, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && i < 8; i++)
		v |= (uint64_t)in_u8(in) << (8 * i);
	return v;
}

static inline uint16_t in_u16(struct fuzz_input *in)
{
	return (uint16_t)in_le(in, 2);
}
static inline uint32_t in_u32(struct fuzz_input *in)
{
	return (uint32_t)in_le(in, 4);
}
static inline uint64_t in_u64(struct fuzz_input *in)
{
	return in_le(in, 8);
}

/* ---- invariants ---- */

/* Print "invariant violated: ..." with the location and abort. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
	} while (0)

/* Every space of the bus: ranges sorted by base, non-empty, not wrapping, not overlapping. */
void fuzz_check_bus(struct iobus *bus);

/* ---- host files ---- */

/* A file in memory (memfd) with a path that open() and fopen() accept. */
struct fuzz_memfile {
	int fd;
	char path[64];
};
void fuzz_memfile_open(struct fuzz_memfile *f, const char *name);
/* Replace the contents. */
void fuzz_memfile_set(struct fuzz_memfile *f, const void *data, size_t len);

/* ---- a VM without KVM ---- */

/* Guest RAM (a multiple of 4 KiB, zeroed) between two inaccessible pages, so that an access
 * running off either end faults. */
void *fuzz_ram_alloc(uint64_t size);
void fuzz_ram_free(void *ram, uint64_t size);

/* A private directory for socket and image files, created on first use and removed with its
 * contents (files and empty directories) at exit. Normal exit only: a crashing run leaves it,
 * in $FUZZ_TMPDIR (run.sh sets one and removes it), else /dev/shm or /tmp. */
const char *fuzz_tmpdir(void);

/* A VM with `lowmem` bytes of RAM at 0 (mmap'd between guard pages), an event loop that only
 * runs if the target runs it, no vCPUs, and the configuration from the NULL-terminated
 * "path=value" list. With `platform`, the platform devices are initialised as bhyve does
 * (machine_init_devices); then PCI devices from the pci.* nodes. Aborts when any step fails:
 * the fixture is the fuzzer's own setup. */
struct vm *fuzz_vm_create(const char *const *assignments, uint64_t lowmem, bool platform);
/* The same with flags: FUZZ_VM_FAKE_KVM gives the VM the stand-in KVM descriptor of
 * fake_kvm.c and its interrupt routing table (irqroute_init), so MSI-X routes, irqfds and
 * ioeventfds are made as under KVM, and guest writes that KVM would complete on an ioeventfd
 * signal it instead of reaching the bus (fuzz_guest_access). */
#define FUZZ_VM_FAKE_KVM 1u
struct vm *fuzz_vm_create_flags(const char *const *assignments, uint64_t lowmem, bool platform,
				unsigned flags);
/* Tear down everything fuzz_vm_create made (destroy hooks, PCI, event loop, bus, RAM). */
void fuzz_vm_destroy(struct vm *vm);

/* One pass of the VM's event loop: every callback whose descriptor is ready now (ioeventfd
 * kicks, completions, expired timers, sockets) runs once, then it returns. */
void fuzz_loop_pass(struct vm *vm);
struct evloop;
void fuzz_evloop_pass(struct evloop *ev);
/* Run the loop for `ms` milliseconds: timers due by then (continuations) fire. */
void fuzz_loop_run_ms(struct vm *vm, unsigned ms);

/* ---- the stand-in KVM VM descriptor (fake_kvm.c) ---- */

int fuzz_fake_kvm_open(void);
void fuzz_fake_kvm_close(int fd);
bool fuzz_fake_kvm_active(void);
/* The eventfd assigned to a guest write of `len` bytes at addr, or -1. */
int fuzz_fake_kvm_ioeventfd(bool pio, uint64_t addr, unsigned len);
/* The GSI an irqfd is bound to, or -1; whether the routing table has an entry for gsi. */
int fuzz_fake_kvm_irqfd_gsi(int efd);
bool fuzz_fake_kvm_routed(unsigned gsi);
/* KVM_IRQ_LINE on the fake VM: a line's current level, and how many times it was raised. */
bool fuzz_fake_kvm_irq_level(unsigned gsi);
unsigned long fuzz_fake_kvm_irq_raised(unsigned gsi);
/* Every irqfd is bound to a GSI that has a route (else its interrupts go nowhere). */
void fuzz_fake_kvm_check(void);

/* ---- work per input ----
 * A guest must not be able to make one input (a few hundred register writes and kicks) cost the
 * VMM much time, file descriptors or log lines: that is how the review's availability findings
 * look from a harness. fuzz_work_begin() at the start of an input, fuzz_work_end() after its
 * teardown; a bound exceeded is a fuzz failure naming the bound. Limits (environment, read once):
 *   FUZZ_MAX_MS        CPU time of one input, all threads, teardown included (default 1000)
 *   FUZZ_MAX_WALL_MS   its wall time (default 5000)
 *   FUZZ_MAX_FDS       descriptors open at fuzz_work_check() beyond those at begin (default 64);
 *                      at fuzz_work_end() the count must be back to where it began
 *   FUZZ_MAX_LOG_LINES lines written to stderr (kb_log) during the input (default 64) */
void fuzz_work_begin(void);
/* A target whose inputs wait for real devices (disk syncs) sets its own default wall-time
 * bound before the first fuzz_work_begin(); FUZZ_MAX_WALL_MS still overrides it. */
void fuzz_work_default_wall_ms(long ms);
/* The fd bound while the VM still exists (before teardown closes what piled up). */
void fuzz_work_check(void);
void fuzz_work_end(void);
/* Open descriptors of the process. */
int fuzz_open_fds(void);
/* Print "fuzz-skip: WHY" once (run.sh reports the target as skipped) and remember it. */
void fuzz_skip(const char *why);

/* ---- guest accesses ---- */

/* One access of `size` bytes as a vCPU performs it: a write passes exactly `size` bytes of val,
 * a read keeps `size` bytes of what the handler returned, and an address nothing decodes reads
 * as all ones. Returns the value read (0 for writes). */
uint64_t fuzz_guest_access(struct vm *vm, enum iobus_space sp, uint64_t addr, unsigned size,
			   bool is_write, uint64_t val);

/* Config space of bus 0, function 0 of `slot`, through 0xCF8/0xCFC as a guest reaches it. */
void fuzz_cfg_write(struct vm *vm, unsigned slot, unsigned reg, unsigned size, uint32_t val);
uint32_t fuzz_cfg_read(struct vm *vm, unsigned slot, unsigned reg, unsigned size);

/* A port I/O or MMIO access decoded from the input (the generic fuzzer's operation):
 *   op byte: bit 0 write, bit 1 MMIO, bits 2-3 size (PIO 1/2/4/1, MMIO 1/2/4/8),
 *            bit 4 address from a registered range (else raw), bits 5-7 repeat count - 1
 *            (PIO string instructions: KVM hands one exit with count > 1, same port)
 *   targeted: range index byte, offset u16 (modulo the range length)
 *   raw: port u16, or MMIO address u64
 *   writes: `size` value bytes. */
void fuzz_generic_op(struct vm *vm, uint8_t op, struct fuzz_input *in);

#endif
