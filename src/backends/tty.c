/* SPDX-License-Identifier: BSD-2-Clause */
#include "backends/tty.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "core/hostpath.h"
#include "core/log.h"

enum tty_kind { TTY_STDIO, TTY_DEVICE, TTY_PTY, TTY_UNIX, TTY_TCP };

struct tty_backend {
	enum tty_kind kind;
	char *name;
	char desc[160];
	struct evloop *ev;
	tty_rx_fn rx;
	void *rx_opaque;

	/* The lock covers the output buffer, in_fd/out_fd, the handles and the watched events.
	 * It is never held while rx runs. */
	pthread_mutex_t lock;
	int in_fd, out_fd;		    /* sockets: the client, -1 without one */
	struct evloop_handle *in_h, *out_h; /* out_h only where out_fd is a separate descriptor */
	uint32_t in_events, out_events;	    /* what in_h / out_h watch now */
	bool in_want;			    /* input is read now (not paused, nothing held) */
	bool in_ended;			    /* end of input or hang-up: nothing more to read */
	bool in_detached;		    /* stdin hung up while paused: watch again on resume */
	bool out_broken;		    /* output failed for good: drop everything */
	bool out_is_socket;
	bool owns_stdio;
	uint8_t *ring;
	size_t ring_head, ring_len;
	uint64_t dropped;

	atomic_bool paused;
	int kick_fd; /* eventfd: tty_resume_input() asks the loop to deliver held input */
	struct evloop_handle *kick_h;
	/* Input read but not yet taken by the consumer; loop thread only. */
	uint8_t in_buf[256];
	size_t in_off, in_len;

	int listen_fd;
	struct evloop_handle *listen_h;
	char *sock_path; /* unix socket file we created, removed at close */
	dev_t sock_dev;
	ino_t sock_ino;

	int pty_slave_fd; /* held open so the master never sees a hang-up */
	bool wrote;	  /* the guest has sent output: a pty drains it at close */
	char *link_path;  /* pty:LINK symlink we created */
	char slave_path[64];

	bool termios_saved; /* terminal devices: settings restored at close */
	struct termios saved_termios;
};

/* ---- stdio terminal state (process-wide: there is one stdin) ---- */

static struct {
	bool in_use;
	bool hooks_installed;
	volatile sig_atomic_t raw;
	volatile sig_atomic_t in_fl_changed, out_fl_changed;
	int in_fl, out_fl;
	struct termios saved;
} stdio_state;

void tty_stdio_restore(void)
{
	/* only async-signal-safe calls here */
	if (stdio_state.raw) {
		kb_log_set_raw_terminal(false);
		tcsetattr(STDIN_FILENO, TCSANOW, &stdio_state.saved);
		stdio_state.raw = 0;
	}
	if (stdio_state.in_fl_changed) {
		fcntl(STDIN_FILENO, F_SETFL, stdio_state.in_fl);
		stdio_state.in_fl_changed = 0;
	}
	if (stdio_state.out_fl_changed) {
		fcntl(STDOUT_FILENO, F_SETFL, stdio_state.out_fl);
		stdio_state.out_fl_changed = 0;
	}
}

bool tty_stdio_raw(void)
{
	return stdio_state.raw;
}

static void fatal_signal(int sig)
{
	tty_stdio_restore();
	/* SA_RESETHAND restored the default action; the signal is blocked until we return */
	raise(sig);
}

static void install_restore_hooks(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	if (stdio_state.hooks_installed)
		return;
	stdio_state.hooks_installed = true;
	atexit(tty_stdio_restore);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler != SIG_DFL ||
		    (old.sa_flags & SA_SIGINFO))
			continue; /* someone else handles it */
		struct sigaction sa = {.sa_handler = fatal_signal, .sa_flags = SA_RESETHAND};
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

/* ---- helpers ---- */

static void make_raw(struct termios *t)
{
	cfmakeraw(t);
	t->c_cflag |= CLOCAL | CREAD; /* ignore modem control lines */
}

static bool fd_pollable(int fd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return false;
	struct epoll_event e = {.events = EPOLLIN};
	bool ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0;
	close(ep);
	return ok;
}

static bool fd_is_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

static ssize_t out_write(struct tty_backend *b, const void *buf, size_t len)
{
	if (b->out_is_socket) /* no SIGPIPE when the peer has gone */
		return send(b->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	b->wrote = true;
	return write(b->out_fd, buf, len);
}

/* Bring the epoll registrations in line with the state. Lock held. */
static void update_watch_locked(struct tty_backend *b)
{
	uint32_t in_ev = b->in_want ? EPOLLIN : 0;
	uint32_t out_ev = b->ring_len > 0 && !b->out_broken ? EPOLLOUT : 0;
	if (b->out_h) {
		if (out_ev != b->out_events && evloop_modify(b->ev, b->out_h, out_ev) == 0)
			b->out_events = out_ev;
	} else if (b->in_fd == b->out_fd) {
		in_ev |= out_ev;
	}
	if (b->in_h && in_ev != b->in_events && evloop_modify(b->ev, b->in_h, in_ev) == 0)
		b->in_events = in_ev;
}

/* Append to the output buffer, dropping the oldest bytes beyond its size. Lock held. */
static void ring_put_locked(struct tty_backend *b, const uint8_t *p, size_t n)
{
	if (n >= TTY_OUTBUF_SIZE) {
		b->dropped += b->ring_len + (n - TTY_OUTBUF_SIZE);
		p += n - TTY_OUTBUF_SIZE;
		n = TTY_OUTBUF_SIZE;
		b->ring_head = b->ring_len = 0;
	} else if (b->ring_len + n > TTY_OUTBUF_SIZE) {
		size_t drop = b->ring_len + n - TTY_OUTBUF_SIZE;
		b->dropped += drop;
		b->ring_head = (b->ring_head + drop) % TTY_OUTBUF_SIZE;
		b->ring_len -= drop;
	}
	while (n > 0) {
		size_t tail = (b->ring_head + b->ring_len) % TTY_OUTBUF_SIZE;
		size_t chunk = TTY_OUTBUF_SIZE - tail < n ? TTY_OUTBUF_SIZE - tail : n;
		memcpy(b->ring + tail, p, chunk);
		b->ring_len += chunk;
		p += chunk;
		n -= chunk;
	}
}

/* A write failed with something other than EAGAIN. Lock held. */
static void output_failed_locked(struct tty_backend *b, int e)
{
	b->ring_head = b->ring_len = 0;
	if (b->kind == TTY_UNIX || b->kind == TTY_TCP)
		return; /* the client is going away; the loop notices and disconnects it */
	if (!b->out_broken)
		kb_log("%s: output to %s failed: %s; dropping output from now on", b->name, b->desc,
		       strerror(e));
	b->out_broken = true;
}

static void flush_locked(struct tty_backend *b)
{
	while (b->ring_len > 0 && b->out_fd >= 0 && !b->out_broken) {
		size_t chunk = TTY_OUTBUF_SIZE - b->ring_head;
		if (chunk > b->ring_len)
			chunk = b->ring_len;
		ssize_t n = out_write(b, b->ring + b->ring_head, chunk);
		if (n > 0) {
			b->ring_head = (b->ring_head + (size_t)n) % TTY_OUTBUF_SIZE;
			b->ring_len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			output_failed_locked(b, n < 0 ? errno : EPIPE);
		}
	}
	if (b->ring_len == 0)
		b->ring_head = 0;
	update_watch_locked(b);
}

void tty_write(struct tty_backend *b, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	pthread_mutex_lock(&b->lock);
	if (b->out_fd < 0 || b->out_broken) {
		pthread_mutex_unlock(&b->lock);
		return; /* no client, or a dead output: the bytes go nowhere */
	}
	while (b->ring_len == 0 && len > 0) {
		ssize_t n = out_write(b, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			break;
		} else {
			output_failed_locked(b, n < 0 ? errno : EPIPE);
			len = 0;
		}
	}
	if (len > 0) {
		ring_put_locked(b, p, len);
		update_watch_locked(b);
	}
	pthread_mutex_unlock(&b->lock);
}

uint64_t tty_dropped(struct tty_backend *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t d = b->dropped;
	pthread_mutex_unlock(&b->lock);
	return d;
}

const char *tty_describe(const struct tty_backend *b)
{
	return b->desc;
}

/* ---- input (event-loop thread) ---- */

static void on_io(int fd, uint32_t events, void *opaque);

static void kick(struct tty_backend *b)
{
	uint64_t one = 1;
	ssize_t r = write(b->kick_fd, &one, sizeof(one));
	(void)r; /* a full counter still leaves the eventfd readable */
}

void tty_pause_input(struct tty_backend *b)
{
	atomic_store(&b->paused, true);
}

void tty_resume_input(struct tty_backend *b)
{
	if (atomic_exchange(&b->paused, false))
		kick(b);
}

/* Recompute whether input is wanted and watch accordingly. */
static void input_state_update(struct tty_backend *b)
{
	pthread_mutex_lock(&b->lock);
	b->in_want = !atomic_load(&b->paused) && b->in_len == 0 && !b->in_ended && b->in_fd >= 0;
	if (b->in_detached && b->in_want) {
		b->in_h = evloop_add_fd(b->ev, b->in_fd, EPOLLIN, on_io, b);
		b->in_events = EPOLLIN;
		b->in_detached = false;
		if (!b->in_h)
			b->in_ended = true;
	}
	update_watch_locked(b);
	pthread_mutex_unlock(&b->lock);
}

static void deliver(struct tty_backend *b)
{
	while (b->in_len > 0 && !atomic_load(&b->paused)) {
		size_t took =
		    b->rx ? b->rx(b->rx_opaque, b->in_buf + b->in_off, b->in_len) : b->in_len;
		if (took > b->in_len)
			took = b->in_len;
		b->in_off += took;
		b->in_len -= took;
		if (took == 0)
			break;
	}
	if (b->in_len > 0 && !atomic_load(&b->paused))
		kick(b); /* the consumer took nothing without pausing: try again later */
	input_state_update(b);
}

static void client_disconnect(struct tty_backend *b)
{
	pthread_mutex_lock(&b->lock);
	if (b->in_fd >= 0) {
		evloop_del(b->ev, b->in_h);
		close(b->in_fd);
		kb_debug("%s: client of %s disconnected", b->name, b->desc);
	}
	b->in_h = NULL;
	b->in_fd = b->out_fd = -1;
	b->in_events = 0;
	b->in_want = false;
	b->ring_head = b->ring_len = 0;
	pthread_mutex_unlock(&b->lock);
	b->in_off = b->in_len = 0;
}

/* Nothing more will come from the input side. */
static void input_ended(struct tty_backend *b)
{
	if (b->kind == TTY_UNIX || b->kind == TTY_TCP) {
		client_disconnect(b);
		return;
	}
	pthread_mutex_lock(&b->lock);
	evloop_del(b->ev, b->in_h);
	b->in_h = NULL;
	b->in_events = 0;
	b->in_ended = true;
	b->in_want = false;
	if (b->kind != TTY_STDIO) {
		/* a terminal device or pty that hung up: its output is gone as well */
		if (!b->out_broken)
			kb_log("%s: %s hung up; the port is disconnected", b->name, b->desc);
		b->out_broken = true;
		b->ring_head = b->ring_len = 0;
	} else {
		kb_debug("%s: end of input on stdin", b->name);
	}
	pthread_mutex_unlock(&b->lock);
}

static void input_ready(struct tty_backend *b, uint32_t events)
{
	if (b->in_ended || b->in_fd < 0)
		return;
	if (atomic_load(&b->paused) || b->in_len > 0) {
		if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
			/* a hang-up is reported even without EPOLLIN: stop listening for now */
			if (b->in_fd == b->out_fd) {
				input_ended(b);
			} else {
				pthread_mutex_lock(&b->lock);
				evloop_del(b->ev, b->in_h);
				b->in_h = NULL;
				b->in_events = 0;
				b->in_detached = true;
				pthread_mutex_unlock(&b->lock);
			}
			return;
		}
		input_state_update(b); /* stop watching EPOLLIN until resumed */
		return;
	}
	ssize_t n = read(b->in_fd, b->in_buf, sizeof(b->in_buf));
	if (n > 0) {
		b->in_off = 0;
		b->in_len = (size_t)n;
		deliver(b);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		input_ended(b);
	}
}

static void on_io(int fd, uint32_t events, void *opaque)
{
	struct tty_backend *b = opaque;
	if (events & EPOLLOUT) {
		pthread_mutex_lock(&b->lock);
		flush_locked(b);
		pthread_mutex_unlock(&b->lock);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		input_ready(b, events);
}

/* The separate output descriptor of stdio. */
static void on_out(int fd, uint32_t events, void *opaque)
{
	struct tty_backend *b = opaque;
	pthread_mutex_lock(&b->lock);
	if (events & (EPOLLHUP | EPOLLERR)) {
		output_failed_locked(b, EPIPE);
		evloop_del(b->ev, b->out_h);
		b->out_h = NULL;
	} else {
		flush_locked(b);
	}
	pthread_mutex_unlock(&b->lock);
}

static void on_kick(int fd, uint32_t events, void *opaque)
{
	struct tty_backend *b = opaque;
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));
	(void)r;
	deliver(b);
}

static void on_accept(int fd, uint32_t events, void *opaque)
{
	struct tty_backend *b = opaque;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->in_fd >= 0) {
		pthread_mutex_unlock(&b->lock);
		close(c);
		kb_log("%s: refused a second client on %s", b->name, b->desc);
		return;
	}
	if (b->kind == TTY_TCP) {
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	b->in_want = !atomic_load(&b->paused);
	b->in_events = b->in_want ? EPOLLIN : 0;
	b->in_h = evloop_add_fd(b->ev, c, b->in_events, on_io, b);
	if (!b->in_h) {
		b->in_want = false;
		pthread_mutex_unlock(&b->lock);
		close(c);
		return;
	}
	b->in_fd = b->out_fd = c;
	b->out_is_socket = true;
	b->ring_head = b->ring_len = 0;
	kb_debug("%s: client connected to %s", b->name, b->desc);
	pthread_mutex_unlock(&b->lock);
	b->in_off = b->in_len = 0;
}

/* ---- opening ---- */

/* `e` is read before formatting, which may change errno. */
#define FAIL(e, ...)                                                                               \
	do {                                                                                       \
		int fail_errno_ = (e);                                                             \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return -fail_errno_;                                                               \
	} while (0)

/* A non-blocking descriptor for stdin/stdout that does not change the shared open file
 * description (and so the shell's): reopen through /proc where possible. */
static int reopen_nonblock(int fd, int accmode)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int n = open(path, accmode | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (n >= 0)
		return n;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (n < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK)) {
		if (fd == STDIN_FILENO) {
			stdio_state.in_fl = fl;
			stdio_state.in_fl_changed = 1;
		} else {
			stdio_state.out_fl = fl;
			stdio_state.out_fl_changed = 1;
		}
		fcntl(n, F_SETFL, fl | O_NONBLOCK);
	}
	return n;
}

static int open_stdio(struct tty_backend *b, char *err, size_t errlen)
{
	if (stdio_state.in_use)
		FAIL(EBUSY, "stdio: already used by another port");
	b->owns_stdio = true;
	struct stat st;
	if (fstat(STDOUT_FILENO, &st) < 0)
		FAIL(errno, "stdio: stdout: %s", strerror(errno));
	/* regular files never block; keep their shared offset (2>&1 into the same log) */
	if (S_ISREG(st.st_mode))
		b->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	else
		b->out_fd = reopen_nonblock(STDOUT_FILENO, O_WRONLY);
	if (b->out_fd < 0)
		FAIL(errno, "stdio: stdout: %s", strerror(errno));
	b->out_is_socket = fd_is_socket(b->out_fd);
	b->in_fd = reopen_nonblock(STDIN_FILENO, O_RDONLY);
	if (b->in_fd < 0)
		FAIL(errno, "stdio: stdin: %s", strerror(errno));
	stdio_state.in_use = true;

	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &stdio_state.saved) == 0) {
		struct termios raw = stdio_state.saved;
		install_restore_hooks();
		make_raw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
			stdio_state.raw = 1;
			kb_log_set_raw_terminal(true);
		}
	}
	snprintf(b->desc, sizeof(b->desc), "stdio");

	if (fd_pollable(b->in_fd)) {
		b->in_h = evloop_add_fd(b->ev, b->in_fd, EPOLLIN, on_io, b);
		b->in_events = EPOLLIN;
		b->in_want = true;
	}
	if (!b->in_h) {
		b->in_ended = true;
		kb_debug("%s: stdin cannot be watched; no input", b->name);
	}
	if (fd_pollable(b->out_fd)) /* else a file or /dev/null: writes complete at once */
		b->out_h = evloop_add_fd(b->ev, b->out_fd, 0, on_out, b);
	return 0;
}

static int open_device(struct tty_backend *b, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		FAIL(errno, "%s: %s", path, strerror(errno));
	hostpath_note(path, HOSTPATH_READ | HOSTPATH_WRITE);
	b->in_fd = b->out_fd = fd;
	if (!isatty(fd))
		FAIL(ENOTTY, "%s: not a terminal device", path);
	if (tcgetattr(fd, &b->saved_termios) == 0) {
		struct termios raw = b->saved_termios;
		b->termios_saved = true;
		make_raw(&raw);
		if (tcsetattr(fd, TCSANOW, &raw) < 0)
			FAIL(errno, "%s: cannot set raw mode: %s", path, strerror(errno));
	}
	snprintf(b->desc, sizeof(b->desc), "%s", path);
	return 0;
}

static int open_pty(struct tty_backend *b, const char *link, char *err, size_t errlen)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		FAIL(errno, "pty: cannot allocate a pseudo-terminal: %s", strerror(errno));
	b->in_fd = b->out_fd = m;
	if (grantpt(m) < 0 || unlockpt(m) < 0 ||
	    ptsname_r(m, b->slave_path, sizeof(b->slave_path)) != 0)
		FAIL(errno, "pty: cannot set up the pseudo-terminal: %s", strerror(errno));
	b->pty_slave_fd = open(b->slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (b->pty_slave_fd < 0)
		FAIL(errno, "pty: %s: %s", b->slave_path, strerror(errno));
	struct termios t;
	if (tcgetattr(b->pty_slave_fd, &t) < 0)
		FAIL(errno, "pty: %s: %s", b->slave_path, strerror(errno));
	make_raw(&t);
	if (tcsetattr(b->pty_slave_fd, TCSANOW, &t) < 0)
		FAIL(errno, "pty: %s: cannot set raw mode: %s", b->slave_path, strerror(errno));
	int fl = fcntl(m, F_GETFL);
	if (fl < 0 || fcntl(m, F_SETFL, fl | O_NONBLOCK) < 0)
		FAIL(errno, "pty: %s", strerror(errno));

	if (link) {
		if (!*link)
			FAIL(EINVAL, "pty:: empty link path");
		struct stat st;
		if (lstat(link, &st) == 0) {
			if (!S_ISLNK(st.st_mode))
				FAIL(EEXIST, "pty:%s: exists and is not a symlink", link);
			if (unlink(link) < 0) /* a stale link from an earlier run */
				FAIL(errno, "pty:%s: cannot replace: %s", link, strerror(errno));
		} else if (errno != ENOENT) {
			FAIL(errno, "pty:%s: %s", link, strerror(errno));
		}
		if (symlink(b->slave_path, link) < 0)
			FAIL(errno, "pty:%s: cannot create symlink: %s", link, strerror(errno));
		b->link_path = strdup(link);
		if (!b->link_path) {
			unlink(link);
			FAIL(ENOMEM, "pty:%s: out of memory", link);
		}
		hostpath_note(link, HOSTPATH_UNLINK); /* removed at exit */
	}
	snprintf(b->desc, sizeof(b->desc), "pty %s", b->slave_path);
	kb_log("%s: %s", b->name, b->slave_path);
	return 0;
}

static int open_unix(struct tty_backend *b, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!*path)
		FAIL(EINVAL, "unix=: empty socket path");
	if (strlen(path) >= sizeof(sa.sun_path))
		FAIL(ENAMETOOLONG, "unix=%s: path longer than %zu bytes", path,
		     sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			FAIL(EEXIST, "unix=%s: exists and is not a socket", path);
		/* a socket: in use if something accepts connections there, else stale */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (probe < 0)
			FAIL(errno, "unix=%s: %s", path, strerror(errno));
		int rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		int e = errno;
		close(probe);
		if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
			FAIL(EADDRINUSE, "unix=%s: socket in use by another program", path);
		if (e != ECONNREFUSED)
			FAIL(e, "unix=%s: %s", path, strerror(e));
		if (unlink(path) < 0)
			FAIL(errno, "unix=%s: cannot remove stale socket: %s", path,
			     strerror(errno));
	} else if (errno != ENOENT) {
		FAIL(errno, "unix=%s: %s", path, strerror(errno));
	}

	b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->listen_fd < 0)
		FAIL(errno, "unix=%s: socket: %s", path, strerror(errno));
	if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		FAIL(errno, "unix=%s: bind: %s", path, strerror(errno));
	b->sock_path = strdup(path);
	if (!b->sock_path) {
		unlink(path);
		FAIL(ENOMEM, "unix=%s: out of memory", path);
	}
	hostpath_note(path, HOSTPATH_UNLINK); /* removed at exit */
	if (stat(path, &st) < 0) {
		int e = errno;
		unlink(path);
		FAIL(e, "unix=%s: %s", path, strerror(e));
	}
	b->sock_dev = st.st_dev;
	b->sock_ino = st.st_ino;
	/* the console carries the guest's session: owner only */
	if (chmod(path, 0600) < 0)
		FAIL(errno, "unix=%s: chmod: %s", path, strerror(errno));
	if (listen(b->listen_fd, 1) < 0)
		FAIL(errno, "unix=%s: listen: %s", path, strerror(errno));
	snprintf(b->desc, sizeof(b->desc), "unix %s", path);
	return 0;
}

/* "IP:PORT" or "[IPv6]:PORT" into host and port strings. */
static int split_host_port(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon;
	size_t hl;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		s++;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* none, or an IPv6 address without brackets */
		hl = (size_t)(colon - s);
	}
	const char *p = colon + 1;
	size_t pl = strlen(p);
	if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen || strspn(p, "0123456789") != pl ||
	    strtoul(p, NULL, 10) > 65535)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memcpy(port, p, pl + 1);
	return 0;
}

static int open_tcp(struct tty_backend *b, const char *addr, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 32], port[8];
	if (split_host_port(addr, host, sizeof(host), port, sizeof(port)) < 0)
		FAIL(EINVAL, "tcp=%s: expected IP:PORT or [IPv6]:PORT", addr);
	bool v6 = addr[0] == '[';
	struct in_addr v4;
	/* dotted quads only (getaddrinfo would take "1.2.3" as 1.2.0.3) */
	if (!v6 && inet_pton(AF_INET, host, &v4) != 1)
		FAIL(EINVAL, "tcp=%s: bad address: %s is not an IPv4 address", addr, host);
	struct addrinfo hints = {
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	    .ai_family = v6 ? AF_INET6 : AF_INET,
	    .ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0)
		FAIL(EINVAL, "tcp=%s: bad address: %s", addr, gai_strerror(rc));
	b->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int e = errno;
	int one = 1;
	if (b->listen_fd >= 0) {
		setsockopt(b->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(b->listen_fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(b->listen_fd, 1) < 0)
			e = errno;
		else
			e = 0;
	}
	freeaddrinfo(ai);
	if (e)
		FAIL(e, "tcp=%s: cannot listen: %s", addr, strerror(e));

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char nhost[INET6_ADDRSTRLEN], nport[8];
	if (getsockname(b->listen_fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, nhost, sizeof(nhost), nport, sizeof(nport),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		FAIL(EINVAL, "tcp=%s: cannot read the bound address", addr);
	if (ss.ss_family == AF_INET6)
		snprintf(b->desc, sizeof(b->desc), "tcp [%s]:%s", nhost, nport);
	else
		snprintf(b->desc, sizeof(b->desc), "tcp %s:%s", nhost, nport);
	return 0;
}

#undef FAIL

static int open_spec(struct tty_backend *b, const char *spec, char *err, size_t errlen)
{
	if (strcmp(spec, "stdio") == 0) {
		b->kind = TTY_STDIO;
		return open_stdio(b, err, errlen);
	}
	if (strcmp(spec, "pty") == 0 || strncmp(spec, "pty:", 4) == 0) {
		b->kind = TTY_PTY;
		return open_pty(b, spec[3] ? spec + 4 : NULL, err, errlen);
	}
	if (strncmp(spec, "unix=", 5) == 0) {
		b->kind = TTY_UNIX;
		return open_unix(b, spec + 5, err, errlen);
	}
	if (strncmp(spec, "tcp=", 4) == 0) {
		b->kind = TTY_TCP;
		return open_tcp(b, spec + 4, err, errlen);
	}
	if (strchr(spec, '/')) {
		b->kind = TTY_DEVICE;
		return open_device(b, spec, err, errlen);
	}
	snprintf(
	    err, errlen,
	    "%s: unknown serial backend (stdio, /dev/PATH, pty[:LINK], unix=PATH, tcp=IP:PORT)",
	    spec);
	return -EINVAL;
}

int tty_open(struct tty_backend **out, const char *spec, const char *name, struct evloop *ev,
	     tty_rx_fn rx, void *opaque, char *err, size_t errlen)
{
	*out = NULL;
	struct tty_backend *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "%s: out of memory", spec);
		return -ENOMEM;
	}
	b->ev = ev;
	b->rx = rx;
	b->rx_opaque = opaque;
	b->in_fd = b->out_fd = b->listen_fd = b->pty_slave_fd = b->kick_fd = -1;
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->paused, false);
	b->name = strdup(name ? name : "serial");
	b->ring = malloc(TTY_OUTBUF_SIZE);
	if (!b->name || !b->ring) {
		snprintf(err, errlen, "%s: out of memory", spec);
		tty_close(b);
		return -ENOMEM;
	}
	int rc = open_spec(b, spec, err, errlen);
	if (rc == 0 && b->kind != TTY_STDIO) {
		/* descriptors to watch (stdio registered its own) */
		if (b->listen_fd >= 0) {
			b->listen_h = evloop_add_fd(ev, b->listen_fd, EPOLLIN, on_accept, b);
			if (!b->listen_h)
				rc = -ENOMEM;
		} else {
			b->in_h = evloop_add_fd(ev, b->in_fd, EPOLLIN, on_io, b);
			b->in_events = EPOLLIN;
			b->in_want = true;
			if (!b->in_h)
				rc = -ENOMEM;
		}
		if (rc)
			snprintf(err, errlen, "%s: cannot watch the descriptor", spec);
	}
	if (rc == 0) {
		b->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (b->kick_fd >= 0)
			b->kick_h = evloop_add_fd(ev, b->kick_fd, EPOLLIN, on_kick, b);
		if (!b->kick_h) {
			rc = -ENOMEM;
			snprintf(err, errlen, "%s: cannot create the input wake-up", spec);
		}
	}
	if (rc) {
		tty_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* Closing a pty's master hangs up its slave, and the kernel then drops whatever the slave has
 * not read: the last line a guest prints before it powers off would never reach an attached
 * `vm console`. Give a reader the moment it needs to take it; stop as soon as nothing is left
 * or nothing more is being taken (nobody attached). The short first wait lets the kernel move
 * just-written bytes to where FIONREAD counts them. */
static void pty_drain(int slave)
{
	int prev = -1, idle_ms = 0;
	for (int ms = 0; ms < 1000; ms += 10) {
		int n;
		if (ioctl(slave, FIONREAD, &n) < 0)
			return;
		if (n == 0 && ms >= 20)
			return;
		if (n > 0 && prev >= 0 && n >= prev) {
			idle_ms += 10;
			if (idle_ms >= 200)
				return;
		} else {
			idle_ms = 0;
		}
		prev = n;
		usleep(10000);
	}
}

void tty_close(struct tty_backend *b)
{
	if (!b)
		return;
	if (b->ev) {
		evloop_del(b->ev, b->in_h);
		evloop_del(b->ev, b->out_h);
		evloop_del(b->ev, b->listen_h);
		evloop_del(b->ev, b->kick_h);
	}
	if (b->termios_saved)
		tcsetattr(b->in_fd, TCSANOW, &b->saved_termios);
	if (b->kind == TTY_PTY && b->pty_slave_fd >= 0 && b->wrote)
		pty_drain(b->pty_slave_fd);
	if (b->in_fd >= 0)
		close(b->in_fd);
	if (b->out_fd >= 0 && b->out_fd != b->in_fd)
		close(b->out_fd);
	if (b->owns_stdio) {
		tty_stdio_restore();
		stdio_state.in_use = false;
	}
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->sock_path) {
		struct stat st;
		/* remove it only if it is still our socket */
		if (lstat(b->sock_path, &st) == 0 && st.st_dev == b->sock_dev &&
		    st.st_ino == b->sock_ino)
			unlink(b->sock_path);
		free(b->sock_path);
	}
	if (b->link_path) {
		char target[sizeof(b->slave_path)];
		ssize_t n = readlink(b->link_path, target, sizeof(target) - 1);
		if (n >= 0) {
			target[n] = '\0';
			if (strcmp(target, b->slave_path) == 0)
				unlink(b->link_path);
		}
		free(b->link_path);
	}
	if (b->pty_slave_fd >= 0)
		close(b->pty_slave_fd);
	if (b->kick_fd >= 0)
		close(b->kick_fd);
	pthread_mutex_destroy(&b->lock);
	free(b->ring);
	free(b->name);
	free(b);
}
