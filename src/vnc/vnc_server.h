/* SPDX-License-Identifier: BSD-2-Clause */
/* fbuf's VNC (RFB 3.8) server, on the VM's event loop: viewers see the display's scan-out, and
 * their keys and pointer go to the console input service.
 *
 * kbhyve's own, like bhyve's rfb.c, rather than Debian's libneatvnc: the 0.5.4 that Debian 12
 * ships frees a viewer while its frame is still being encoded, or while it parses a bad message,
 * and then uses it (fixed upstream in 0.6); a viewer leaving at the wrong moment would take the
 * guest down. Handshake 3.3/3.7/3.8 with security None or VNC authentication (a delay after a
 * wrong password), every client message checked by rfb_filter, encodings Raw and ZRLE, the
 * DesktopSize and QEMU extended-key pseudo-encodings, several viewers, and updates pulled from
 * KVM's dirty log: an idle screen costs nothing to encode and is looked at less often (the
 * interval grows while nothing changes, and drops back at a change or a viewer's input); no
 * viewer costs nothing at all. */
#ifndef KB_VNC_SERVER_H
#define KB_VNC_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "vnc/display.h"

struct vm;
struct vnc_server;

struct vnc_options {
	const char *host; /* numeric IPv4/IPv6 address or name; brackets already removed */
	unsigned port;
	bool wait;	      /* hold the vCPUs until the first viewer is in */
	const char *password; /* VNC authentication; NULL: none */
	const char *name;     /* desktop name shown by viewers (the VM's name) */
};

/* Listen and serve `d` (which must outlive the server). NULL with one line in err on failure. */
struct vnc_server *vnc_server_open(struct vm *vm, const struct vnc_options *o,
				   const struct display *d, char *err, size_t errlen);
void vnc_server_close(struct vnc_server *s);

/* Limits */
#define VNC_MAX_VIEWERS 16
#define VNC_HANDSHAKE_MS 30000	  /* a viewer must finish the handshake in this time */
#define VNC_BAD_PASSWORD_MS 1000  /* the answer to a wrong password waits this long */
#define VNC_REFRESH_MS 33	  /* about 30 updates a second while the guest draws... */
#define VNC_REFRESH_IDLE_MS 100	  /* ...backing off to this while its screen is still */
#define VNC_OUT_HIGH (1u << 20)	  /* no new update while this much waits to be sent */

#endif
