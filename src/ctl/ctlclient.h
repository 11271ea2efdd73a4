/* SPDX-License-Identifier: BSD-2-Clause */
/* Client side of the VM control protocol (ctl/ctlproto.h): bhyvectl and the tests. */
#ifndef KB_CTLCLIENT_H
#define KB_CTLCLIENT_H

#include <stddef.h>

#include "ctl/ctlproto.h"

struct ctl_conn {
	int fd;
	int version; /* from the server's greeting */
	struct ctl_linebuf in;
};

/* Connect to the control socket at `path` and read the greeting, waiting at most timeout_ms.
 * 0; -ENOENT or -ECONNREFUSED when no VM serves there (no socket, or a stale one); other
 * -errno with a one-line message in err. */
int ctl_connect(struct ctl_conn *c, const char *path, int timeout_ms, char *err, size_t errlen);

/* Called for each "KEY VALUE" line of a reply (value is "" when the line has no space). */
typedef void (*ctl_data_fn)(const char *key, const char *value, void *opaque);

/* Send one request and read its reply, giving data lines to fn (may be NULL). 0 for "ok";
 * -EREMOTEIO with the server's message in err for "error: ..."; another -errno with a message
 * when the connection fails, times out or the reply is malformed. */
int ctl_request(struct ctl_conn *c, const char *request, ctl_data_fn fn, void *opaque,
		int timeout_ms, char *err, size_t errlen);

/* The same, passing nfds (at most CTL_MAX_FDS) open descriptors with the request (SCM_RIGHTS):
 * the checkpoint files. */
int ctl_request_fds(struct ctl_conn *c, const char *request, const int *fds, int nfds,
		    ctl_data_fn fn, void *opaque, int timeout_ms, char *err, size_t errlen);

/* Wait until the server closes the connection (its VM has gone): 0 or -ETIMEDOUT. */
int ctl_wait_closed(struct ctl_conn *c, int timeout_ms);

void ctl_disconnect(struct ctl_conn *c);

#endif
