/* SPDX-License-Identifier: BSD-2-Clause */
/* The control socket's file: bound by bhyve itself, or by vm's supervisor for a guest that runs
 * as another user, who then hands it to bhyve (socket activation, core/ctl.c). */
#ifndef CTL_CTLSOCKET_H
#define CTL_CTLSOCKET_H

#include <stddef.h>
#include <sys/stat.h>

#define CTL_BACKLOG 16 /* connections waiting to be accepted */

/* Listen on VM `name`'s socket ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm/NAME, mode 0600: missing
 * folders are made (0700); a stale socket there (nobody accepts) is replaced and a live one
 * refused ("VM NAME is already running"), checked and bound under a lock on the folder so
 * that two starting at once cannot both replace it. The listening fd (non-blocking,
 * close-on-exec) with path and *st (the file, to remove only that at the end), or -errno with
 * one line in err. */
int ctl_listen(const char *name, int backlog, char *path, size_t pathlen, struct stat *st,
	       char *err, size_t errlen);

/* Remove the socket file at path if it is still the one of *st. */
void ctl_unlink_if_same(const char *path, const struct stat *st);

#endif
