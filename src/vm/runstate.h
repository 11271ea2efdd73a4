/* SPDX-License-Identifier: BSD-2-Clause */
/* A guest's run state as `vm` sees it: the supervisor's run.lock (runlock.h) and bhyve's control
 * socket ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm/NAME, which answers for as long as bhyve runs, with or
 * without a supervisor (one killed with SIGKILL leaves its bhyve running). */
#ifndef VM_RUNSTATE_H
#define VM_RUNSTATE_H

#include <stddef.h>
#include <sys/types.h>

#include "vm/guest.h"

enum guest_run {
	GUEST_STOPPED,	  /* no supervisor, and nothing answers on the control socket */
	GUEST_RUNNING,	  /* a supervisor on this host holds run.lock */
	GUEST_ORPHAN,	  /* no supervisor, but bhyve answers on the control socket */
	GUEST_OTHER_HOST, /* run.lock written by another host (shared storage) */
	GUEST_BUSY,	  /* run.lock held by a vm command (destroy, rename: its name in host) or by
			     a process that is not vm's */
};

struct guest_state {
	enum guest_run run;
	pid_t supervisor; /* GUEST_RUNNING: the supervisor's pid */
	pid_t bhyve;	  /* RUNNING or ORPHAN: bhyve's pid; 0 while the supervisor has none */
	char host[256];	  /* GUEST_OTHER_HOST: the lock's host; GUEST_BUSY: who holds it */
};

/* Probe the lock (clearing a stale one, see runlock_probe) and, without a supervisor, the control
 * socket. */
void guest_state_get(const struct guest *g, struct guest_state *st);

/* bhyve's pid from the "status" reply on the control socket of VM `name`, or 0 when nothing
 * answers there. */
pid_t guest_ctl_pid(const char *name);

struct ctl_conn;
/* Connect to the control socket of VM `name` and read its greeting, waiting at most timeout_ms:
 * ctl_connect's result (vm suspend, vm migrate, the resume wait). */
int guest_ctl_connect(const char *name, struct ctl_conn *c, int timeout_ms, char *err,
		      size_t errlen);

/* One request to the bhyve of VM `name` (ctlproto.h) and its "ok": 0, or -errno with a one-line
 * message in err (-ENOENT/-ECONNREFUSED: nothing serves there). With wait_ms > 0, then wait that
 * long for bhyve to close the connection (it has exited): -ETIMEDOUT when it did not. */
int guest_ctl_request(const char *name, const char *request, int wait_ms, char *err, size_t errlen);

#endif
