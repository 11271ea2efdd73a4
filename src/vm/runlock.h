/* SPDX-License-Identifier: BSD-2-Clause */
/* <guest>/run.lock: held with flock(LOCK_EX) by the guest's supervisor for as long as it runs, and
 * by `vm destroy` and `vm rename` for the whole of their work. The file (0600) says
 * "<hostname> <pid>" (a command adds " <command>"). A lock held on this host means "running here"
 * (or "busy"), whatever hostname the file names; a file nobody holds is stale and is cleared,
 * unless another host wrote it (shared storage): that one is left alone. */
#ifndef VM_RUNLOCK_H
#define VM_RUNLOCK_H

#include <stddef.h>
#include <sys/types.h>

enum run_state {
	RUN_STOPPED,	  /* no lock, or a stale one (now removed) */
	RUN_RUNNING,	  /* held by a live supervisor on this host: *pid */
	RUN_OTHER_HOST,	  /* written by another host, not held here: *host */
	RUN_BUSY,	  /* held here by a vm command (destroy, rename: *pid, its name in *host) or by
			     a process that is not vm's (*pid 0, "another process" in *host) */
};

/* Take the lock for the calling process: 0 with *fd held open, -EBUSY (running, busy or locked by
 * another host, message in err) or another -errno. Safe against a concurrent acquire, probe or
 * stale-clear: a probe holding the file for a moment is waited for. */
int runlock_acquire(const char *guest_dir, int *fd, char *err, size_t errlen);
/* The same for vm command `op` ("destroy", "rename"): the file names it, probes report RUN_BUSY,
 * and a start that meets it says "vm OP in progress". */
int runlock_acquire_op(const char *guest_dir, const char *op, int *fd, char *err, size_t errlen);
/* Remove the lock file and close fd. */
void runlock_release(const char *guest_dir, int fd);
/* What the lock says now; clears a stale lock. pid and host may be NULL. The pid returned is
 * checked (/proc/locks) to be the process that holds the lock, never a dead writer's. */
enum run_state runlock_probe(const char *guest_dir, pid_t *pid, char *host, size_t hostlen);

#endif
