/* SPDX-License-Identifier: BSD-2-Clause */
/* The per-guest supervisor (`vm _run`): holds <guest>/run.lock, runs bhyve, makes and removes the
 * guest's taps and console file around each run, restarts bhyve after a reboot, forwards a stop
 * request (SIGTERM/SIGINT/SIGHUP) to bhyve as the ACPI power button, and logs every step to
 * <guest>/vm-bhyve.log. */
#ifndef VM_SUPERVISOR_H
#define VM_SUPERVISOR_H

#include <stdbool.h>

#include "vm/settings.h"

/* The environment variable naming the descriptor on which the supervisor reports how its first
 * start went to the `vm start` that spawned it: "ok\n", or the one-line error. */
#define SUPERVISOR_NOTIFY_ENV "KBHYVE_VM_NOTIFY_FD"
/* The same report through a FIFO at this path (tmux runs the supervisor: it inherits nothing). */
#define SUPERVISOR_NOTIFY_FIFO_ENV "KBHYVE_VM_NOTIFY_FIFO"

struct supervisor_opts {
	bool com_stdio;	 /* com1 on our stdio (start -f, tmux), bhyve's output to the terminal */
	bool tmux;	 /* running in a tmux session: the console file says so */
	const char *iso; /* `vm install`: attached for the first run only, or NULL */
	/* vm migrate: the first run receives the guest live (bhyve -R at this "[addr:]port") */
	const char *migrate_listen;
	int notify_fd;	 /* where to report the first start, or -1 */
};

/* Run guest `name` until it stops: the process exit status (0 stopped as asked or by the guest,
 * 1 when it could not be started; the reason is logged, on stderr and on notify_fd). */
int supervisor_run(struct vm_settings *s, const char *name, const struct supervisor_opts *o);

/* <guest>/restart: left by `vm restart`: when the bhyve that runs now ends by itself (status 0 to 2),
 * it runs again. A fault, `vm stop` or `vm poweroff`, or the end of that run drops it. */
#define SUPERVISOR_RESTART_FLAG "restart"
/* <guest>/console: "comN=<what>" lines while bhyve runs. */
#define SUPERVISOR_CONSOLE_FILE "console"

/* tmux session of a guest: its name with '.' made '~' (tmux reserves '.'). */
void supervisor_tmux_session(const char *name, char *out, size_t outlen);

#endif
