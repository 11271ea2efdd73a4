/* SPDX-License-Identifier: BSD-2-Clause */
/* fbuf's options, bhyve's syntax:
 *   -s S,fbuf,[rfb=|tcp=][IP:]PORT|[IPv6]:PORT[,w=W][,h=H][,vga=io|on|off][,wait][,password=P]
 *        [,model=bochs|bhyve]
 * stored as pci.B.S.F.KEY and read back here. */
#ifndef KB_FBUF_CONFIG_H
#define KB_FBUF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

#define FBUF_MIN_WIDTH 640
#define FBUF_MIN_HEIGHT 480
#define FBUF_MAX_WIDTH 3840
#define FBUF_MAX_HEIGHT 2160

enum fbuf_model { FBUF_MODEL_BOCHS, FBUF_MODEL_BHYVE };
enum fbuf_vga { FBUF_VGA_IO, FBUF_VGA_ON, FBUF_VGA_OFF };

struct fbuf_config {
	char host[64]; /* listen address without brackets */
	unsigned port;
	unsigned width, height;
	enum fbuf_vga vga;
	bool wait;
	const char *password; /* NULL: no authentication */
	enum fbuf_model model;
};

/* Split "[IP:]PORT", "[IPv6]:PORT" or "PORT" into host and port (default host 127.0.0.1).
 * 0 or -EINVAL with one line in err. */
int fbuf_parse_listen(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
		      size_t errlen);
/* Read and check a device node. 0 or -EINVAL with one line in err. */
int fbuf_read_config(struct cfgnode *devnode, struct fbuf_config *c, char *err, size_t errlen);

#endif
