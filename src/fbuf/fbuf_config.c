/* SPDX-License-Identifier: BSD-2-Clause */
/* fbuf's options (see fbuf_config.h), checked the way bhyve's pci_fbuf.c documents them. */
#include "fbuf/fbuf_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 5900
#define DEFAULT_WIDTH 1024
#define DEFAULT_HEIGHT 768

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 65535 || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	*port = (unsigned)v;
	return 0;
}

int fbuf_parse_listen(const char *s, char *host, size_t hostlen, unsigned *port, char *err,
		      size_t errlen)
{
	const char *h = DEFAULT_HOST, *p = s;
	size_t hn = strlen(DEFAULT_HOST);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			snprintf(err, errlen, "fbuf: bad address '%s' (expected [IPv6]:PORT)", s);
			return -EINVAL;
		}
		h = s + 1;
		hn = (size_t)(close - h);
		p = close + 2;
	} else if (strchr(s, ':')) {
		const char *colon = strrchr(s, ':');
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(err, errlen, "fbuf: bad address '%s' (write IPv6 as [ADDR]:PORT)", s);
			return -EINVAL;
		}
		h = s;
		hn = (size_t)(colon - s);
		p = colon + 1;
	}
	if (hn == 0 || hn >= hostlen) {
		snprintf(err, errlen, "fbuf: bad address '%s'", s);
		return -EINVAL;
	}
	if (parse_port(p, port) < 0) {
		snprintf(err, errlen, "fbuf: bad port in '%s' (0 to 65535)", s);
		return -EINVAL;
	}
	memcpy(host, h, hn);
	host[hn] = '\0';
	return 0;
}

static int get_dim(struct cfgnode *n, const char *key, unsigned def, unsigned min, unsigned max,
		   unsigned *out, char *err, size_t errlen)
{
	const char *v = config_get(n, key);
	*out = def;
	if (!v)
		return 0;
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (!*v || *end || errno || x < min || x > max || v[0] == '-') {
		snprintf(err, errlen, "fbuf: %s=%s is out of range (%u to %u)", key, v, min, max);
		return -EINVAL;
	}
	*out = (unsigned)x;
	return 0;
}

int fbuf_read_config(struct cfgnode *n, struct fbuf_config *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "%s", DEFAULT_HOST);
	c->port = DEFAULT_PORT;
	/* rfb= wins over tcp=, as in bhyve */
	const char *listen = config_get(n, "rfb");
	if (!listen)
		listen = config_get(n, "tcp");
	if (listen && fbuf_parse_listen(listen, c->host, sizeof(c->host), &c->port, err, errlen) < 0)
		return -EINVAL;
	if (get_dim(n, "w", DEFAULT_WIDTH, FBUF_MIN_WIDTH, FBUF_MAX_WIDTH, &c->width, err, errlen) <
		0 ||
	    get_dim(n, "h", DEFAULT_HEIGHT, FBUF_MIN_HEIGHT, FBUF_MAX_HEIGHT, &c->height, err,
		    errlen) < 0)
		return -EINVAL;
	const char *vga = config_get(n, "vga");
	if (!vga || strcmp(vga, "io") == 0)
		c->vga = FBUF_VGA_IO;
	else if (strcmp(vga, "on") == 0)
		c->vga = FBUF_VGA_ON;
	else if (strcmp(vga, "off") == 0)
		c->vga = FBUF_VGA_OFF;
	else {
		snprintf(err, errlen, "fbuf: vga=%s: expected io, on or off", vga);
		return -EINVAL;
	}
	if (config_get_bool(n, "wait", false, &c->wait) < 0) {
		snprintf(err, errlen, "fbuf: wait=%s is not a boolean", config_get(n, "wait"));
		return -EINVAL;
	}
	c->password = config_get(n, "password");
	const char *model = config_get(n, "model");
	if (!model || strcmp(model, "bochs") == 0)
		c->model = FBUF_MODEL_BOCHS;
	else if (strcmp(model, "bhyve") == 0)
		c->model = FBUF_MODEL_BHYVE;
	else {
		snprintf(err, errlen, "fbuf: model=%s: expected bochs or bhyve", model);
		return -EINVAL;
	}
	return 0;
}
