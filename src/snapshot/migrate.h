/* SPDX-License-Identifier: BSD-2-Clause */
/* Live migration (protocol: migproto.h). The source sends RAM while the guest runs, in rounds of
 * the pages dirtied since the last one (KVM's dirty log, and the pages the VMM's devices wrote),
 * until a round would fit the downtime target; then it parks the vCPUs, drains the devices,
 * sends the last dirty pages and the vCPU and device state, and stops once the destination has
 * loaded it all; any failure before that leaves the guest running here as before. The
 * destination (bhyve -R) receives into a VM made from the same options and runs it. */
#ifndef KB_MIGRATE_H
#define KB_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

#define MIGRATE_DOWNTIME_MS 300 /* default target for the final pause */

struct migrate_result {
	unsigned rounds;      /* pre-copy rounds, the first (all of RAM) included */
	uint64_t mem_bytes;   /* page data sent, all rounds */
	uint64_t final_bytes; /* page data sent while the guest was paused */
	unsigned pause_ms;    /* vCPUs parked until the destination took over */
	unsigned total_ms;
};

typedef void (*migrate_done_fn)(void *opaque, int rc, const char *err,
				const struct migrate_result *r);

/* Send the VM over `sock`, a connected stream to a bhyve -R (taken over and closed here).
 * Event-loop thread; done runs there when it ends: rc 0 (the VM then exits with
 * BHYVE_EXIT_SUSPEND) or -errno with one line (the guest runs on). 0 when started, or -errno
 * with one line in err (nothing started; sock closed). */
int migrate_start(struct vm *vm, int sock, unsigned downtime_ms, migrate_done_fn done,
		  void *opaque, char *err, size_t errlen);

/* bhyve -R [ADDR:]PORT: wait for one migration on that TCP address and load it into this VM
 * (made from the same options, its devices set up, no vCPU run yet). 0 when the guest is ready
 * to run, or -errno with one line in err. */
int migrate_receive(struct vm *vm, const char *listen_on, char *err, size_t errlen);
/* The same over a connected stream `fd` (not closed here): tests and fuzzing. */
int migrate_receive_fd(struct vm *vm, int fd, char *err, size_t errlen);

#endif
