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
 * contents at exit (normal exit only: a crashing run leaves it in /dev/shm or /tmp). */
const char *fuzz_tmpdir(void);

/* A VM with `lowmem` bytes of RAM at 0 (mmap'd between guard pages), an event loop that only
 * runs if the target runs it, no vCPUs, and the configuration from the NULL-terminated
 * "path=value" list. With `platform`, the platform devices are initialised as bhyve does
 * (machine_init_devices); then PCI devices from the pci.* nodes. Aborts when any step fails:
 * the fixture is the fuzzer's own setup. */
struct vm *fuzz_vm_create(const char *const *assignments, uint64_t lowmem, bool platform);
/* Tear down everything fuzz_vm_create made (destroy hooks, PCI, event loop, bus, RAM). */
void fuzz_vm_destroy(struct vm *vm);

/* ---- guest accesses ---- */

/* One access of `size` bytes as a vCPU performs it: a write passes exactly `size` bytes of val,
 * a read keeps `size` bytes of what the handler returned, and an address nothing decodes reads
 * as all ones. Returns the value read (0 for writes). */
uint64_t fuzz_guest_access(struct vm *vm, enum iobus_space sp, uint64_t addr, unsigned size,
			   bool is_write, uint64_t val);

/* A port I/O or MMIO access decoded from the input (the generic fuzzer's operation):
 *   op byte: bit 0 write, bit 1 MMIO, bits 2-3 size (PIO 1/2/4/1, MMIO 1/2/4/8),
 *            bit 4 address from a registered range (else raw), bits 5-7 repeat count - 1
 *            (PIO string instructions: KVM hands one exit with count > 1, same port)
 *   targeted: range index byte, offset u16 (modulo the range length)
 *   raw: port u16, or MMIO address u64
 *   writes: `size` value bytes. */
void fuzz_generic_op(struct vm *vm, uint8_t op, struct fuzz_input *in);

#endif
