/* SPDX-License-Identifier: BSD-2-Clause */
/* The browser console: an HTTP server for the console page (share/web: kbhyve's page plus
 * noVNC's core from the npm registry) and a WebSocket bridge from the page to a guest's VNC
 * server. `vm console --web` runs it; it knows nothing about guests, only addresses. */
#ifndef KBHYVE_WEBCONSOLE_H
#define KBHYVE_WEBCONSOLE_H

struct webconsole_opts {
	const char *listen;   /* address to listen on (IPv4 or IPv6 literal) */
	int port;	      /* TCP port, 1-65535 */
	const char *vnc_host; /* the VNC server: an IP literal */
	int vnc_port;
	const char *web_dir;  /* index.html, console.js, novnc/core/rfb.js */
};

/* Checks that web_dir holds the page and noVNC; 0, or -1 with one line in err. */
int webconsole_check_dir(const char *web_dir, char *err, size_t errlen);

/* Serves until SIGINT or SIGTERM. ready() is called once the port is listening (to print the
 * URL). 0 after a signal, -1 with one line on stderr when it cannot start. */
int webconsole_run(const struct webconsole_opts *o, void (*ready)(const struct webconsole_opts *));

#endif
