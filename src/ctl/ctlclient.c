/* SPDX-License-Identifier: BSD-2-Clause */
#include "ctl/ctlclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(long long deadline)
{
	long long left = deadline - now_ms();
	return left < 0 ? 0 : (int)left;
}

/* Wait for `events` on the socket until the deadline: 0 or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, remaining(deadline));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Read the next reply line into out (CTL_REPLY_LINE_MAX + 1 bytes). */
static int read_line(struct ctl_conn *c, char *out, long long deadline, char *err, size_t errlen)
{
	for (;;) {
		size_t len;
		enum ctl_line_status st =
		    ctl_linebuf_next(&c->in, out, CTL_REPLY_LINE_MAX + 1, &len);
		if (st == CTL_LINE_OK) {
			if (memchr(out, '\0', len)) {
				snprintf(err, errlen, "malformed reply (NUL byte)");
				return -EPROTO;
			}
			return 0;
		}
		if (st == CTL_LINE_TOO_LONG) {
			snprintf(err, errlen, "reply line longer than %d bytes",
				 CTL_REPLY_LINE_MAX);
			return -EPROTO;
		}
		size_t room;
		char *tail = ctl_linebuf_tail(&c->in, &room);
		ssize_t n = read(c->fd, tail, room);
		if (n > 0) {
			ctl_linebuf_commit(&c->in, (size_t)n);
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen, "the VM closed the control connection");
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			int e = errno;
			snprintf(err, errlen, "control socket: %s", strerror(e));
			return -e;
		}
		int rc = wait_fd(c->fd, POLLIN, deadline);
		if (rc) {
			snprintf(err, errlen, "no answer from the VM: %s", strerror(-rc));
			return rc;
		}
	}
}

int ctl_connect(struct ctl_conn *c, const char *path, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	c->fd = -1;
	c->version = 0;
	ctl_linebuf_init(&c->in, CTL_REPLY_LINE_MAX);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	long long deadline = now_ms() + timeout_ms;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "socket: %s", strerror(e));
		return -e;
	}
	/* a non-blocking unix connect fails with EAGAIN while the listen backlog is full */
	while (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if ((e == EAGAIN || e == EINTR) && remaining(deadline) > 0) {
			usleep(10000);
			continue;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		ctl_disconnect(c);
		return -e;
	}
	char line[CTL_REPLY_LINE_MAX + 1];
	int rc = read_line(c, line, deadline, err, errlen);
	if (rc == 0) {
		const char *msg;
		if (ctl_reply_kind(line, &msg) < 0) {
			snprintf(err, errlen, "%s", msg);
			rc = -EREMOTEIO;
		} else if (ctl_parse_greeting(line, &c->version) < 0) {
			snprintf(err, errlen, "%s: not a kbhyve control socket", path);
			rc = -EPROTO;
		} else if (c->version != CTL_PROTO_VERSION) {
			snprintf(err, errlen,
				 "%s: control protocol version %d (this bhyvectl speaks %d)", path,
				 c->version, CTL_PROTO_VERSION);
			rc = -EPROTONOSUPPORT;
		}
	}
	if (rc)
		ctl_disconnect(c);
	return rc;
}

static int send_all(struct ctl_conn *c, const char *buf, size_t len, long long deadline, char *err,
		    size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		int e = n < 0 ? errno : EIO;
		if (e == EINTR)
			continue;
		if (e == EAGAIN) {
			int rc = wait_fd(c->fd, POLLOUT, deadline);
			if (rc == 0)
				continue;
			e = -rc;
		}
		snprintf(err, errlen, "cannot send the request: %s", strerror(e));
		return -e;
	}
	return 0;
}

/* The request's first byte with the descriptors attached; the rest goes with send_all. */
static int send_fds(struct ctl_conn *c, const char *buf, const int *fds, int nfds,
		    long long deadline, char *err, size_t errlen)
{
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	} ctrl;
	memset(&ctrl, 0, sizeof(ctrl));
	struct iovec iov = {(void *)buf, 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctrl,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
	struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfds);
	for (;;) {
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		int e = n < 0 ? errno : EIO;
		if (e == EINTR)
			continue;
		if (e == EAGAIN && wait_fd(c->fd, POLLOUT, deadline) == 0)
			continue;
		snprintf(err, errlen, "cannot send the request: %s", strerror(e));
		return -e;
	}
}

int ctl_request(struct ctl_conn *c, const char *request, ctl_data_fn fn, void *opaque,
		int timeout_ms, char *err, size_t errlen)
{
	return ctl_request_fds(c, request, NULL, 0, fn, opaque, timeout_ms, err, errlen);
}

int ctl_request_fds(struct ctl_conn *c, const char *request, const int *fds, int nfds,
		    ctl_data_fn fn, void *opaque, int timeout_ms, char *err, size_t errlen)
{
	size_t len = strlen(request);
	if (len == 0 || len > CTL_REQUEST_MAX || strchr(request, '\n') || nfds < 0 ||
	    nfds > CTL_MAX_FDS) {
		snprintf(err, errlen, "invalid request");
		return -EINVAL;
	}
	char buf[CTL_REQUEST_MAX + 1];
	memcpy(buf, request, len);
	buf[len++] = '\n';
	long long deadline = now_ms() + timeout_ms;
	int rc = 0;
	size_t sent = 0;
	if (nfds > 0) {
		rc = send_fds(c, buf, fds, nfds, deadline, err, errlen);
		sent = 1;
	}
	if (rc == 0)
		rc = send_all(c, buf + sent, len - sent, deadline, err, errlen);
	if (rc)
		return rc;
	for (;;) {
		char line[CTL_REPLY_LINE_MAX + 1];
		rc = read_line(c, line, deadline, err, errlen);
		if (rc)
			return rc;
		const char *msg;
		int kind = ctl_reply_kind(line, &msg);
		if (kind > 0)
			return 0;
		if (kind < 0) {
			snprintf(err, errlen, "%s", msg);
			return -EREMOTEIO;
		}
		char *sp = strchr(line, ' ');
		if (sp)
			*sp = '\0';
		if (!ctl_key_valid(line)) {
			snprintf(err, errlen, "malformed reply line");
			return -EPROTO;
		}
		if (fn)
			fn(line, sp ? sp + 1 : "", opaque);
	}
}

int ctl_wait_closed(struct ctl_conn *c, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char buf[512];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 0; /* end of stream or reset: the server side is gone */
		if (n > 0)
			continue;
		if (wait_fd(c->fd, POLLIN, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
}

void ctl_disconnect(struct ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
