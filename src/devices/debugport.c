/* SPDX-License-Identifier: BSD-2-Clause */
/* POST/debug port 0x80. Writes are ignored, as on a PC, unless x86.debugport.log is set: then each
 * write is logged with the milliseconds since bhyve started, so a guest's init can mark
 * "userspace reached" for boot-time measurements (Cloud Hypervisor uses the same port). */
#include <errno.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/vm.h"

#define DEBUG_PORT 0x80

static int debugport_io(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
	if (!is_write) {
		*val = 0xff;
		return 0;
	}
	if (opaque)
		kb_log("debug port 0x80: %#llx at %.1f ms", (unsigned long long)(*val & 0xff),
		       kb_uptime_ms());
	return 0;
}

static int debugport_init(struct vm *vm)
{
	bool log = false;
	if (config_get_bool(vm->cfg, "x86.debugport.log", false, &log) < 0) {
		kb_log("x86.debugport.log: not a boolean");
		return -EINVAL;
	}
	/* opaque is only a flag: non-NULL means log writes */
	return iobus_register(&vm->bus, IOBUS_PIO, DEBUG_PORT, 1, debugport_io, log ? vm : NULL,
			      "debugport");
}

static const struct platform_device debugport = {.name = "debugport", .order = 40, .init = debugport_init};
PLATFORM_DEVICE(debugport);
