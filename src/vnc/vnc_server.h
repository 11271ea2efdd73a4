/* The VNC (RFB) server of a display device: Debian's libneatvnc on the VM's event loop. Viewers
 * see the display's scan-out; their keys and pointer go to the console input service. */
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
	bool wait;	  /* hold the vCPUs until the first viewer connects */
	const char *name; /* desktop name shown by viewers (the VM's name) */
};

/* Listen and serve `d` (which must outlive the server). NULL with one line in err on failure. */
struct vnc_server *vnc_server_open(struct vm *vm, const struct vnc_options *o,
				   const struct display *d, char *err, size_t errlen);
void vnc_server_close(struct vnc_server *s);

#endif
