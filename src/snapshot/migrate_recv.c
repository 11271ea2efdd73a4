/* SPDX-License-Identifier: BSD-2-Clause */
/* The destination of a live migration (bhyve -R): one connection, checked message by message. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "ctl/migconnect.h"
#include "core/vm.h"
#include "snapshot/migproto.h"
#include "snapshot/migrate.h"
#include "snapshot/snapreg.h"
#include "snapshot/snapfile.h"
#include "snapshot/vmstate.h"

#define FRAME_TIMEOUT_MS 60000 /* the source is silent this long: it is gone */

/* Until fd is readable, or one of the signals that stop bhyve arrives (they are blocked for
 * the event loop, which does not run yet): 0, or -EINTR with the signal in err. */
static int wait_readable(int fd, char *err, size_t errlen)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	for (;;) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 250) > 0)
			return 0;
		struct timespec now = {0, 0};
		int sig = sigtimedwait(&stop, NULL, &now);
		if (sig > 0) {
			snprintf(err, errlen, "stopped by signal %d while waiting for the source", sig);
			return -EINTR;
		}
	}
}

/* [ADDR:]PORT, ADDR a name, IPv4 address or [IPv6] address; all addresses without ADDR. */
static int listen_on(const char *spec, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	if (migrate_hostport(spec, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "-R %s: address too long", spec);
		return -EINVAL;
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "-R %s: not [ADDRESS:]PORT (a port is 1-65535)", spec);
		return -EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc) {
		snprintf(err, errlen, "-R %s: %s", spec, gai_strerror(rc));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
		rc = -errno;
		snprintf(err, errlen, "-R %s: %s", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	return fd;
}

struct recv_state {
	struct vm *vm;
	int fd;
	bool hello, ready;
	uint8_t *kern;
	size_t klen;
	char *err;
	size_t errlen;
};

/* A reason may quote the source's bytes (a VM name, a configuration line, the JSON parser's
 * "near" text, an ERROR cut short): printable ASCII only, here and for the source. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* One line to the source too, so that bhyvectl --migrate says why. */
static int refuse(struct recv_state *r, int rc)
{
	printable(r->err);
	mig_send(r->fd, MIG_ERROR, r->err, strlen(r->err));
	return rc;
}

static int on_hello(struct recv_state *r, uint64_t len)
{
	char *text = malloc(len + 1);
	if (!text) {
		snprintf(r->err, r->errlen, "out of memory");
		return refuse(r, -ENOMEM);
	}
	int rc = mig_recv_all(r->fd, text, len, FRAME_TIMEOUT_MS);
	if (rc) {
		free(text);
		return rc; /* the connection failed, not the description (why is not set) */
	}
	struct snap_meta m = {0};
	char why[400];
	if ((rc = meta_parse(text, len, &m, why, sizeof(why))) == 0)
		rc = vmstate_check_meta(r->vm, &m, why, sizeof(why));
	free(text);
	meta_free(&m);
	if (rc) {
		snprintf(r->err, r->errlen, "the source's VM does not fit this one: %s", why);
		return refuse(r, rc);
	}
	r->hello = true;
	return mig_send(r->fd, MIG_OK, NULL, 0);
}

static int on_pages(struct recv_state *r, const struct mig_frame *f)
{
	uint8_t head[16];
	size_t n = f->type == MIG_ZERO ? 16 : 8;
	int rc = mig_recv_all(r->fd, head, n, FRAME_TIMEOUT_MS);
	if (rc)
		return rc;
	uint64_t off, len;
	rc = mig_parse_range(f, head, r->vm->mem.size, &off, &len, r->err, r->errlen);
	if (rc)
		return refuse(r, rc);
	uint8_t *p = r->vm->mem.host + off;
	if (f->type == MIG_MEM)
		return mig_recv_all(r->fd, p, len, FRAME_TIMEOUT_MS);
	/* zero pages: given back to the kernel where possible (they read as zero) */
	if (r->vm->mem.wired || madvise(p, len, MADV_DONTNEED) < 0)
		memset(p, 0, len);
	return 0;
}

static int on_state(struct recv_state *r, uint64_t len)
{
	free(r->kern);
	r->kern = malloc(len ? len : 1);
	if (!r->kern) {
		snprintf(r->err, r->errlen, "out of memory");
		return refuse(r, -ENOMEM);
	}
	r->klen = len;
	return mig_recv_all(r->fd, r->kern, len, FRAME_TIMEOUT_MS);
}

static int on_done(struct recv_state *r)
{
	if (!r->kern) {
		snprintf(r->err, r->errlen, "the source sent no vCPU and device state");
		return refuse(r, -EPROTO);
	}
	char why[400];
	int rc = vmstate_load_kern(r->vm, r->kern, r->klen, why, sizeof(why));
	if (rc) {
		snprintf(r->err, r->errlen, "the source's state does not load: %s", why);
		return refuse(r, rc);
	}
	r->ready = true;
	return mig_send(r->fd, MIG_READY, NULL, 0);
}

/* Messages until COMMIT. */
static int receive(struct recv_state *r)
{
	for (;;) {
		uint8_t hdr[MIG_HDR];
		struct mig_frame f;
		/* the first message may take as long as the user takes to start the source */
		int rc = r->hello ? 0 : wait_readable(r->fd, r->err, r->errlen);
		if (rc == 0)
			rc = mig_recv_all(r->fd, hdr, sizeof(hdr), FRAME_TIMEOUT_MS);
		if (rc)
			return rc;
		rc = mig_parse_header(hdr, SNAPFILE_KERN_MAX, &f, r->err, r->errlen);
		if (rc)
			return refuse(r, rc);
		bool want_hello = f.type == MIG_HELLO;
		if (want_hello == r->hello || (r->ready && f.type != MIG_COMMIT) ||
		    (!r->ready && f.type == MIG_COMMIT) || f.type == MIG_OK || f.type == MIG_READY) {
			snprintf(r->err, r->errlen, "unexpected migration message %s",
				 mig_type_name(f.type));
			return refuse(r, -EPROTO);
		}
		switch (f.type) {
		case MIG_HELLO:
			rc = on_hello(r, f.len);
			break;
		case MIG_MEM:
		case MIG_ZERO:
			rc = on_pages(r, &f);
			break;
		case MIG_STATE:
			rc = on_state(r, f.len);
			break;
		case MIG_DONE:
			rc = on_done(r);
			break;
		case MIG_COMMIT:
			return 0;
		case MIG_ERROR: {
			/* the source gave up: its reason, then nothing more */
			char msg[256] = "";
			size_t n = f.len < sizeof(msg) - 1 ? f.len : sizeof(msg) - 1;
			if (mig_recv_all(r->fd, msg, n, FRAME_TIMEOUT_MS) == 0)
				for (size_t i = 0; i < n; i++)
					if (msg[i] < 0x20 || msg[i] == 0x7f)
						msg[i] = '?';
			snprintf(r->err, r->errlen, "the source gave up: %s", msg);
			return -ECANCELED;
		}
		}
		if (rc)
			return rc;
	}
}

int migrate_receive(struct vm *vm, const char *spec, char *err, size_t errlen)
{
	if (vm->bootrom) {
		snprintf(err, errlen, "-R: a VM booted from firmware (-l bootrom) cannot migrate yet");
		return -ENOTSUP;
	}
	const struct snapshot_entry *no = vmstate_unsupported(vm);
	if (no) {
		snprintf(err, errlen, "-R: %s: %s", no->name, no->why);
		return -ENOTSUP;
	}
	int lfd = listen_on(spec, err, errlen);
	if (lfd < 0)
		return lfd;
	kb_debug("waiting for a migration on %s", spec);
	int fd = -1;
	int rc = wait_readable(lfd, err, errlen);
	if (rc == 0) {
		do
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		while (fd < 0 && errno == EINTR);
		if (fd < 0) {
			rc = -errno;
			snprintf(err, errlen, "-R %s: accept: %s", spec, strerror(errno));
		}
	}
	close(lfd);
	if (rc)
		return rc;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = migrate_receive_fd(vm, fd, err, errlen);
	close(fd);
	return rc;
}

int migrate_receive_fd(struct vm *vm, int fd, char *err, size_t errlen)
{
	char why[512] = "";
	struct recv_state r = {.vm = vm, .fd = fd, .err = why, .errlen = sizeof(why)};
	int rc = receive(&r);
	printable(why);
	if (rc && !why[0])
		snprintf(why, sizeof(why), "%s",
			 rc == -EPIPE || rc == -ECONNRESET ? "the source disconnected"
			 : rc == -ETIMEDOUT		   ? "the source went silent"
							   : strerror(-rc));
	if (rc)
		snprintf(err, errlen, "migration: %s%s", why,
			 r.ready ? " (after the state was loaded; the source may still run it)" : "");
	else
		vmstate_resume(vm);
	free(r.kern);
	return rc;
}
