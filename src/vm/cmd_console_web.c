/* SPDX-License-Identifier: BSD-2-Clause */
/* `vm console --web [-l ADDR] [-p PORT] NAME|HOST:PORT`: the guest's screen in a browser. Serves
 * kbhyve's console page with noVNC (<share>/web) on ADDR (127.0.0.1 unless told) and bridges its
 * WebSocket to the VNC server the running guest's fbuf listens on (its console file's vnc=
 * entry), or to HOST:PORT for a bhyve started by hand. The page asks for the guest's VNC
 * password, if it has one: the bridge only carries bytes. Prints the URL; runs until Ctrl-C. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm/cmds.h"
#include "vm/tcpport.h"
#include "webconsole/webconsole.h"

#define WEB_PORT_FIRST 6080 /* websockify's and noVNC's customary port */

/* "ADDR:PORT" or "[V6]:PORT" into an IP literal and a port; a wildcard address (what a VNC
 * server listening everywhere shows) becomes the loopback of its family. 0, or -1. */
int console_web_parse_vnc(const char *entry, char *host, size_t hostlen, int *port)
{
	const char *colon;
	char h[INET6_ADDRSTRLEN + 2];
	size_t n;
	if (entry[0] == '[') {
		const char *close = strchr(entry, ']');
		if (!close || close[1] != ':')
			return -1;
		n = (size_t)(close - entry - 1);
		if (n >= sizeof(h))
			return -1;
		memcpy(h, entry + 1, n);
		colon = close + 1;
	} else {
		colon = strrchr(entry, ':');
		if (!colon || memchr(entry, ':', (size_t)(colon - entry)))
			return -1;
		n = (size_t)(colon - entry);
		if (n >= sizeof(h))
			return -1;
		memcpy(h, entry, n);
	}
	h[n] = '\0';
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || errno || p < 1 || p > 65535)
		return -1;
	unsigned char a[16];
	bool v6 = inet_pton(AF_INET6, h, a) == 1;
	if (!v6 && inet_pton(AF_INET, h, a) != 1)
		return -1;
	if (strcmp(h, "0.0.0.0") == 0)
		snprintf(h, sizeof(h), "127.0.0.1");
	else if (v6 && strcmp(h, "::") == 0)
		snprintf(h, sizeof(h), "::1");
	if (strlen(h) >= hostlen)
		return -1;
	memcpy(host, h, strlen(h) + 1);
	*port = (int)p;
	return 0;
}

static const char *url_guest; /* the guest's name in the URL's query, or NULL */

static void print_url(const struct webconsole_opts *o)
{
	char host[300];
	if (strcmp(o->listen, "0.0.0.0") == 0 || strcmp(o->listen, "::") == 0) {
		if (gethostname(host, sizeof(host) - 1) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
	} else if (strchr(o->listen, ':')) {
		snprintf(host, sizeof(host), "[%s]", o->listen);
	} else {
		snprintf(host, sizeof(host), "%s", o->listen);
	}
	printf("http://%s:%d/%s%s\n", host, o->port, url_guest ? "?guest=" : "",
	       url_guest ? url_guest : "");
	fflush(stdout);
	fprintf(stderr, "vm console: serving the console of %s (VNC %s port %d); Ctrl-C ends it\n",
		url_guest ? url_guest : "the VNC server", o->vnc_host, o->vnc_port);
}

int console_web(const struct vm_settings *s, const char *name, const char *vnc_entry,
		const char *listen, const char *port)
{
	char host[INET6_ADDRSTRLEN + 2], err[PATH_MAX + 160], dir[PATH_MAX + 8];
	struct webconsole_opts o = {.listen = listen ? listen : "127.0.0.1"};
	if (console_web_parse_vnc(vnc_entry, host, sizeof(host), &o.vnc_port) < 0) {
		fprintf(stderr, "vm console: '%s' is not a VNC address (ADDR:PORT or [IPv6]:PORT)\n",
			vnc_entry);
		return 1;
	}
	o.vnc_host = host;
	unsigned char a[16];
	if (inet_pton(AF_INET, o.listen, a) != 1 && inet_pton(AF_INET6, o.listen, a) != 1) {
		fprintf(stderr, "vm console: -l '%s': the address to listen on is an IP address\n",
			o.listen);
		return 1;
	}
	if (port) {
		char *end;
		errno = 0;
		long p = strtol(port, &end, 10);
		if (!*port || *end || errno || p < 1 || p > 65535) {
			fprintf(stderr, "vm console: -p '%s': the port is a number from 1 to 65535\n",
				port);
			return 1;
		}
		o.port = (int)p;
	} else if ((o.port = (int)tcp_first_free_port(o.listen, WEB_PORT_FIRST, 100)) == 0) {
		fprintf(stderr, "vm console: no free port from %d to %d on %s (give one with -p)\n",
			WEB_PORT_FIRST, WEB_PORT_FIRST + 99, o.listen);
		return 1;
	}
	const char *env = getenv("KBHYVE_WEB_DIR");
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (s->share_dir[0])
		snprintf(dir, sizeof(dir), "%s/web", s->share_dir);
	else
		snprintf(dir, sizeof(dir), "(kbhyve's share folder)/web");
	if (webconsole_check_dir(dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm console: the browser console is not installed: %s\n", err);
		return 1;
	}
	o.web_dir = dir;
	url_guest = name;
	return webconsole_run(&o, print_url) < 0 ? 1 : 0;
}
