/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the vCPU exit decoding (vcpu_handle_exit in src/core/vcpu.c): a VM with
 * the platform devices, the host bridge, LPC (com1) and a virtio-rnd, the stand-in KVM
 * descriptor, one struct vcpu without a KVM vCPU, and a made-up struct kvm_run filled in for
 * each exit the way KVM fills it: port I/O with a repeat count (string instructions) and its
 * data in the page after the kvm_run structure, MMIO of 0-15 bytes (KVM gives 1-8), MSR reads and
 * writes, shutdown, system events, entry failures, emulation errors and unknown reasons. The
 * kvm_run pages sit between inaccessible guard pages.
 *
 * Checked after every exit: ASan/UBSan; a port read writes exactly count x size bytes of the
 * data page and nothing else, an MMIO read at most `len` bytes of mmio.data, nothing but port
 * writes and MMIO write contents are left as they were; MSR reads return 0 with no error; the
 * exit code is -1 or one of bhyve's, set by every exit that ends the VM and by no MSR, HLT or
 * INTR exit (as the vCPU thread, the target stops at the first one); the exit counter counts every
 * exit.
 *
 * Input: a setup byte (bit 0 strict I/O, -e), then exits: reason byte (index into the list
 * below, modulo its length; the last entry takes a raw u32 reason), then its fields. */
#include <linux/kvm.h>
#include <string.h>

#include "core/exitcode.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "fixture.h"

#define RAM_SIZE (1u << 20)
#define PAGE 4096u
#define RUN_PAGES 2 /* struct kvm_run, then the port I/O data page (KVM_PIO_PAGE_OFFSET 1) */
#define MAX_EXITS 256
#define FILL 0xA5

static char com1[160];
static const char *const config[] = {"pci.0.0.0.device=hostbridge", "pci.0.31.0.device=lpc",
				     "pci.0.3.0.device=virtio-rnd", com1, NULL};

static const uint32_t reasons[] = {
    KVM_EXIT_IO,	KVM_EXIT_IO,	    KVM_EXIT_MMIO,	 KVM_EXIT_MMIO,
    KVM_EXIT_X86_RDMSR, KVM_EXIT_X86_WRMSR, KVM_EXIT_SHUTDOWN,	 KVM_EXIT_SYSTEM_EVENT,
    KVM_EXIT_HLT,	KVM_EXIT_INTR,	    KVM_EXIT_FAIL_ENTRY, KVM_EXIT_INTERNAL_ERROR,
    0 /* raw */,
};

/* An address from a registered range (op bit) or raw. */
static uint64_t pick_addr(struct vm *vm, enum iobus_space sp, bool targeted, struct fuzz_input *in)
{
	if (targeted && vm->bus.count[sp] > 0) {
		const struct iobus_range *r = &vm->bus.ranges[sp][in_u8(in) % vm->bus.count[sp]];
		return r->base + in_u16(in) % r->len;
	}
	return sp == IOBUS_PIO ? in_u16(in) : in_u64(in);
}

static bool ends_vm(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_SHUTDOWN:
	case KVM_EXIT_SYSTEM_EVENT:
	case KVM_EXIT_FAIL_ENTRY:
	case KVM_EXIT_INTERNAL_ERROR:
		return true;
	case KVM_EXIT_IO:
	case KVM_EXIT_MMIO:
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
	case KVM_EXIT_HLT:
	case KVM_EXIT_INTR:
		return false;
	default:
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!com1[0])
		snprintf(com1, sizeof(com1), "lpc.com1.path=unix=%s/vcpu-com1", fuzz_tmpdir());
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	struct vm *vm = fuzz_vm_create_flags(config, RAM_SIZE, true, FUZZ_VM_FAKE_KVM);
	vm->strictio = setup & 1;
	struct vcpu v = {.vm = vm, .index = 0, .fd = -1};
	uint8_t *pages = fuzz_ram_alloc(RUN_PAGES * PAGE);
	struct kvm_run *run = (struct kvm_run *)pages;
	v.run = run;
	uint8_t *pio = pages + PAGE, before[RUN_PAGES * PAGE];
	uint64_t exits = 0;

	while (in.left && exits < MAX_EXITS) {
		memset(pages, FILL, RUN_PAGES * PAGE);
		uint8_t sel = in_u8(&in);
		uint32_t reason = reasons[sel % (sizeof(reasons) / sizeof(reasons[0]))];
		if (sel % (sizeof(reasons) / sizeof(reasons[0])) == 12)
			reason = in_u32(&in);
		run->exit_reason = reason;
		size_t keep_from = 0, keep_len = 0; /* the bytes the handler may write */
		switch (reason) {
		case KVM_EXIT_IO: {
			static const uint8_t sizes[] = {1, 2, 4};
			run->io.direction = (sel & 0x80) ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
			run->io.size = sizes[in_u8(&in) % 3];
			run->io.port = (uint16_t)pick_addr(vm, IOBUS_PIO, sel & 0x40, &in);
			run->io.count = in_u8(&in) % (PAGE / run->io.size) + 1;
			if (sel & 0x20) /* a long string instruction: as many as fit the page */
				run->io.count = PAGE / run->io.size;
			run->io.data_offset = PAGE;
			size_t n = (size_t)run->io.count * run->io.size;
			for (size_t i = 0; i < n && in.left; i++)
				pio[i] = in_u8(&in);
			if (run->io.direction == KVM_EXIT_IO_IN) {
				keep_from = PAGE;
				keep_len = n;
			}
			break;
		}
		case KVM_EXIT_MMIO:
			run->mmio.phys_addr = pick_addr(vm, IOBUS_MMIO, sel & 0x40, &in);
			run->mmio.len = in_u8(&in) % 16;
			run->mmio.is_write = sel & 0x80;
			for (int i = 0; i < 8; i++)
				run->mmio.data[i] = in_u8(&in);
			if (!run->mmio.is_write) {
				keep_from = (size_t)(run->mmio.data - pages);
				keep_len = run->mmio.len <= 8 ? run->mmio.len : 0;
			}
			break;
		case KVM_EXIT_X86_RDMSR:
		case KVM_EXIT_X86_WRMSR:
			run->msr.index = in_u32(&in);
			run->msr.data = in_u64(&in);
			run->msr.error = in_u8(&in);
			keep_from = (size_t)((uint8_t *)&run->msr - pages);
			keep_len = sizeof(run->msr);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			run->system_event.type = in_u8(&in) % 6;
			break;
		case KVM_EXIT_FAIL_ENTRY:
			run->fail_entry.hardware_entry_failure_reason = in_u64(&in);
			break;
		default:
			break;
		}
		memcpy(before, pages, sizeof(before));
		vcpu_handle_exit(&v);
		exits++;
		if (reason == KVM_EXIT_X86_RDMSR)
			FUZZ_CHECK(run->msr.data == 0 && run->msr.error == 0,
				   "rdmsr %#x returned %#llx error %u", run->msr.index,
				   (unsigned long long)run->msr.data, run->msr.error);
		for (size_t i = 0; i < sizeof(before); i++)
			FUZZ_CHECK(
			    pages[i] == before[i] || (i >= keep_from && i < keep_from + keep_len),
			    "exit %u: byte %zu of the kvm_run pages changed (allowed: %zu+%zu)",
			    reason, i, keep_from, keep_len);
		FUZZ_CHECK(v.stats[VSTAT_EXITS] == exits, "%llu exits counted, %llu handled",
			   (unsigned long long)v.stats[VSTAT_EXITS], (unsigned long long)exits);
		int code = atomic_load(&vm->exit_code);
		FUZZ_CHECK(code >= -1 && code <= BHYVE_EXIT_ERROR, "exit code %d", code);
		if (code >= 0) {
			/* device accesses may end it too (reset control, ACPI sleep, strict I/O) */
			FUZZ_CHECK(ends_vm(reason) || reason == KVM_EXIT_IO ||
				       reason == KVM_EXIT_MMIO,
				   "exit reason %u ended the VM with %d", reason, code);
			break;
		}
		FUZZ_CHECK(!ends_vm(reason), "exit reason %u did not end the VM", reason);
	}
	fuzz_ram_free(pages, RUN_PAGES * PAGE);
	fuzz_work_check();
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
