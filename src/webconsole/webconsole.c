/* SPDX-License-Identifier: BSD-2-Clause */
/* The browser console's server (libwebsockets): files from the web folder over HTTP, and on a
 * WebSocket with the "binary" subprotocol (what noVNC asks for) a byte pipe to the guest's VNC
 * server. The bridge does not read the RFB stream: VNC authentication happens between the page
 * and bhyve, so the console asks for the same password as any viewer.
 *
 * Each WebSocket gets a session with one TCP connection to the VNC server (adopted by lws as a
 * raw socket, so one event loop serves both). Bytes wait in a per-direction buffer; past
 * FLOW_HIGH the sending side stops being read until the other side drains. A page from another
 * origin (a web site the user happens to visit, opening ws://127.0.0.1:PORT) is refused. */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webconsole/webconsole.h"

#define FLOW_HIGH (1u << 20) /* bytes waiting for one side before the other stops being read */
#define CHUNK 65536u	     /* largest single write to either side */
#define CONNECT_TIMEOUT_MS 3000

struct bbuf {
	uint8_t *p;
	size_t off, len, cap; /* pending bytes are p[off .. len) */
};

struct session {
	struct lws *ws;	 /* the page's WebSocket, NULL once closed */
	struct lws *raw; /* the VNC connection, NULL once closed */
	struct bbuf to_vnc, to_ws;
	bool ws_paused, raw_paused; /* reading that side is stopped (flow control) */
	bool closing;		    /* one side has gone: the other flushes and closes */
};

static const struct webconsole_opts *opts;
static struct lws_context *context;
static volatile sig_atomic_t stop;
static uint8_t tx[LWS_PRE + CHUNK];

static size_t pending(const struct bbuf *b)
{
	return b->len - b->off;
}

static int bbuf_put(struct bbuf *b, const void *data, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->off > 0) { /* move what is left to the front first */
			memmove(b->p, b->p + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : CHUNK;
			while (cap < b->len + n)
				cap *= 2;
			uint8_t *p = realloc(b->p, cap);
			if (!p)
				return -1;
			b->p = p;
			b->cap = cap;
		}
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

/* Writes up to CHUNK pending bytes to wsi; -1 when lws could not take them. */
static int flush_some(struct lws *wsi, struct bbuf *b, enum lws_write_protocol how)
{
	size_t n = pending(b);
	if (n == 0)
		return 0;
	if (n > CHUNK)
		n = CHUNK;
	memcpy(tx + LWS_PRE, b->p + b->off, n);
	if (lws_write(wsi, tx + LWS_PRE, n, how) < (int)n)
		return -1;
	b->off += n;
	if (pending(b) > 0)
		lws_callback_on_writable(wsi);
	return 0;
}

static void session_free_if_done(struct session *s)
{
	if (s->ws || s->raw)
		return;
	free(s->to_vnc.p);
	free(s->to_ws.p);
	free(s);
}

/* A blocking connect with a timeout to the VNC server; a non-blocking fd or -1. */
static int connect_vnc(void)
{
	char port[8];
	snprintf(port, sizeof(port), "%d", opts->vnc_port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai;
	if (getaddrinfo(opts->vnc_host, port, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int err = errno == EINPROGRESS ? 0 : errno;
		socklen_t el = sizeof(err);
		if (err == 0 && (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 ||
				 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0))
			err = err ? err : ETIMEDOUT;
		if (err) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

/* Same-origin check: a browser sends Origin; it must name the host the page came from. Tools
 * without an Origin header (they are not a page another site controls) pass. */
static bool origin_ok(struct lws *wsi)
{
	char origin[256], host[256], want[300];
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return true;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0 ||
	    lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) < 0)
		return false;
	snprintf(want, sizeof(want), "http://%s", host);
	return strcmp(origin, want) == 0;
}

static int on_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		 size_t len)
{
	struct session **sp = user;
	struct session *s = sp ? *sp : NULL;
	char peer[64];

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!origin_ok(wsi)) {
			lws_get_peer_simple(wsi, peer, sizeof(peer));
			fprintf(stderr, "vm console: refused a WebSocket from %s: its page came from "
					"another site (Origin)\n", peer);
			return 1;
		}
		return 0;

	case LWS_CALLBACK_ESTABLISHED: {
		lws_get_peer_simple(wsi, peer, sizeof(peer));
		int fd = connect_vnc();
		if (fd < 0) {
			fprintf(stderr, "vm console: %s: the guest's VNC server at %s port %d does "
					"not answer: %s\n", peer, opts->vnc_host, opts->vnc_port,
				strerror(errno));
			static const char why[] = "the guest's VNC server does not answer";
			lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
					 (unsigned char *)why, sizeof(why) - 1);
			return -1;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			return -1;
		}
		s->ws = wsi;
		*sp = s;
		lws_adopt_desc_t ad = {
			.vh = lws_get_vhost(wsi),
			.type = LWS_ADOPT_SOCKET,
			.fd.sockfd = fd,
			.vh_prot_name = "kbhyve-vnc",
			.opaque = s,
		};
		s->raw = lws_adopt_descriptor_vhost_via_info(&ad); /* closes fd on failure */
		if (!s->raw) {
			*sp = NULL;
			s->ws = NULL;
			session_free_if_done(s);
			return -1;
		}
		fprintf(stderr, "vm console: viewer %s connected\n", peer);
		return 0;
	}

	case LWS_CALLBACK_RECEIVE:
		if (!s || !s->raw)
			return -1;
		if (bbuf_put(&s->to_vnc, in, len) < 0)
			return -1;
		if (pending(&s->to_vnc) > FLOW_HIGH && !s->ws_paused) {
			s->ws_paused = true;
			lws_rx_flow_control(wsi, 0);
		}
		lws_callback_on_writable(s->raw);
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!s)
			return -1;
		if (flush_some(wsi, &s->to_ws, LWS_WRITE_BINARY) < 0)
			return -1;
		if (s->raw_paused && s->raw && pending(&s->to_ws) < FLOW_HIGH / 2) {
			s->raw_paused = false;
			lws_rx_flow_control(s->raw, 1);
		}
		if (s->closing && pending(&s->to_ws) == 0) {
			static const char why[] = "the guest's VNC server closed the connection";
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)why,
					 sizeof(why) - 1);
			return -1;
		}
		return 0;

	case LWS_CALLBACK_CLOSED:
		if (!s)
			return 0;
		*sp = NULL;
		s->ws = NULL;
		if (s->raw) {
			s->closing = true;
			lws_callback_on_writable(s->raw);
		}
		session_free_if_done(s);
		return 0;

	default:
		return 0;
	}
}

static int on_vnc(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		  size_t len)
{
	struct session *s = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX:
		if (!s || !s->ws)
			return -1;
		if (bbuf_put(&s->to_ws, in, len) < 0)
			return -1;
		if (pending(&s->to_ws) > FLOW_HIGH && !s->raw_paused) {
			s->raw_paused = true;
			lws_rx_flow_control(wsi, 0);
		}
		lws_callback_on_writable(s->ws);
		return 0;

	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!s)
			return -1;
		if (flush_some(wsi, &s->to_vnc, LWS_WRITE_RAW) < 0)
			return -1;
		if (s->ws_paused && s->ws && pending(&s->to_vnc) < FLOW_HIGH / 2) {
			s->ws_paused = false;
			lws_rx_flow_control(s->ws, 1);
		}
		if (s->closing && pending(&s->to_vnc) == 0)
			return -1;
		return 0;

	case LWS_CALLBACK_RAW_CLOSE:
		if (!s)
			return 0;
		lws_set_opaque_user_data(wsi, NULL);
		s->raw = NULL;
		if (s->ws) {
			s->closing = true;
			lws_callback_on_writable(s->ws);
		}
		session_free_if_done(s);
		return 0;

	default:
		return 0;
	}
}

static int on_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		   size_t len)
{
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{"http", on_http, 0, 0, 0, NULL, 0},
	{"binary", on_ws, sizeof(struct session *), CHUNK, 0, NULL, CHUNK},
	{"kbhyve-vnc", on_vnc, 0, CHUNK, 0, NULL, CHUNK},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (context)
		lws_cancel_service(context);
}

static void lws_log_line(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "vm console: libwebsockets: %s", line);
}

int webconsole_check_dir(const char *web_dir, char *err, size_t errlen)
{
	static const char *const need[] = {"index.html", "console.js", "novnc/core/rfb.js"};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char p[4096];
		struct stat st;
		snprintf(p, sizeof(p), "%s/%s", web_dir, need[i]);
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(err, errlen, "%s is missing%s", p,
				 i == 2 ? " (noVNC: run `make novnc`, or `make install`)" : "");
			return -1;
		}
	}
	return 0;
}

int webconsole_run(const struct webconsole_opts *o, void (*ready)(const struct webconsole_opts *))
{
	opts = o;
	lws_set_log_level(LLL_ERR, lws_log_line);

	static struct lws_http_mount mount;
	memset(&mount, 0, sizeof(mount));
	mount.mountpoint = "/";
	mount.mountpoint_len = 1;
	mount.origin = o->web_dir;
	mount.def = "index.html";
	mount.origin_protocol = LWSMPRO_FILE;

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = o->port;
	info.iface = o->listen;
	info.protocols = protocols;
	info.mounts = &mount;
	info.gid = -1;
	info.uid = -1;
	/* CSP and friends: the page loads only its own scripts and talks only to this server */
	info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
		       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	if (!strchr(o->listen, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;

	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "vm console: cannot listen on %s port %d\n", o->listen, o->port);
		return -1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (ready)
		ready(o);
	while (!stop && lws_service(context, 0) >= 0)
		;
	lws_context_destroy(context);
	context = NULL;
	return 0;
}
