/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the RTC's host side: the platform devices as bhyve sets them up
 * (machine_init_devices) with the stand-in KVM descriptor, a guest programming the RTC through
 * ports 0x70/0x71, and the event loop actually run between accesses, so that rtc_timer() fires
 * (periodic, alarm and update-ended interrupts raised on the IRQ line) and the timer is re-armed
 * and removed while it runs. fuzz_rtc covers the register model with a fake clock; this one
 * covers the timer plumbing with the real one.
 *
 * Checked: ASan/UBSan, the IRQ line calls KVM accepts, and the work bounds of fixture.h; in
 * particular the descriptors open before teardown: a guest that toggles an interrupt enable
 * faster than the loop wakes must not pile up timer descriptors.
 *
 * Input: operations, op byte low 2 bits:
 *   0 register write  index u8, value u8 (out 0x70; out 0x71)
 *   1 register read   index u8
 *   2 event loop      one pass
 *   3 wait            (op >> 2) % 12 ms, then one pass (lets the periodic timer expire) */
#include <time.h>

#include "core/vm.h"
#include "fixture.h"

#define RAM_SIZE (1u << 20)
#define MAX_OPS 2048

static void wait_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	const char *const assign[] = {NULL};
	struct vm *vm = fuzz_vm_create_flags(assign, RAM_SIZE, true, FUZZ_VM_FAKE_KVM);
	unsigned waited = 0;
	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 3) {
		case 0:
			fuzz_guest_access(vm, IOBUS_PIO, 0x70, 1, true, in_u8(&in));
			fuzz_guest_access(vm, IOBUS_PIO, 0x71, 1, true, in_u8(&in));
			break;
		case 1:
			fuzz_guest_access(vm, IOBUS_PIO, 0x70, 1, true, in_u8(&in));
			fuzz_guest_access(vm, IOBUS_PIO, 0x71, 1, false, 0);
			break;
		case 2:
			fuzz_loop_pass(vm);
			break;
		case 3:
			/* at most 100 ms of sleeping per input: the time bound is the VMM's */
			if (waited < 100) {
				waited += (op >> 2) % 12;
				wait_ms((op >> 2) % 12);
			}
			fuzz_loop_pass(vm);
			break;
		}
	}
	fuzz_work_check();
	fuzz_vm_destroy(vm);
	fuzz_work_end();
	return 0;
}
