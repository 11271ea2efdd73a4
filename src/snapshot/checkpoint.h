/* SPDX-License-Identifier: BSD-2-Clause */
/* Checkpoint (bhyvectl --checkpoint/--suspend) and restore (bhyve -r) of a whole VM: vCPUs
 * parked, devices paused and drained, then every registered section (snapstate.h), guest RAM and
 * the description written to the three files of snapfile.h; and back. */
#ifndef KB_CHECKPOINT_H
#define KB_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct checkpoint_result {
	uint64_t mem_bytes;  /* guest RAM written (zero pages are holes) */
	uint64_t kern_bytes; /* the state file */
	unsigned pause_ms;   /* vCPUs parked */
	unsigned total_ms;
};

/* Called on the event loop when the checkpoint ends: rc 0, or -errno with one line in err. */
typedef void (*checkpoint_done_fn)(void *opaque, int rc, const char *err,
				   const struct checkpoint_result *r);

/* Add the VM's and vCPUs' KVM state to the saved sections, after machine setup and before the
 * sandbox (it reads KVM's MSR list). 0 or -errno with one line in err. */
int checkpoint_init(struct vm *vm, char *err, size_t errlen);

/* Start a checkpoint into fds (FILE, FILE.kern, FILE.meta, opened for writing by the caller;
 * taken over and closed here). The guest keeps running afterwards, or with `suspend` the VM
 * exits with BHYVE_EXIT_SUSPEND once the files are complete. Event-loop thread. 0 when started
 * (done follows), or -errno with one line in err (nothing started; fds closed): -EBUSY while
 * another runs, -ENOTSUP when a device cannot be saved, -EAGAIN when the guest is not running. */
int checkpoint_start(struct vm *vm, const int fds[3], bool suspend, checkpoint_done_fn done,
		     void *opaque, char *err, size_t errlen);

/* bhyve -r FILE: load FILE, FILE.kern and FILE.meta into a VM made from the same options, after
 * machine setup (devices exist) and before its vCPUs run. 0, or -errno with one line in err
 * (the VM must not run then). */
int checkpoint_restore(struct vm *vm, const char *file, char *err, size_t errlen);


#endif
