/* SPDX-License-Identifier: BSD-2-Clause */
/* Serial backends with real descriptors and a running event loop: pty, terminal device, unix
 * and tcp sockets, stdio (in a child with a pty as its terminal), flow control, the bounded
 * output buffer and the error cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backends/tty.h"
#include "core/evloop.h"

/* ---- a consumer like the UART glue: takes up to `limit` bytes, pauses beyond ---- */

struct consumer {
	pthread_mutex_t lock;
	struct tty_backend *b;
	uint8_t buf[8192];
	size_t len;
	size_t limit;
	bool paused;
};

static size_t consume(void *opaque, const uint8_t *p, size_t n)
{
	struct consumer *c = opaque;
	pthread_mutex_lock(&c->lock);
	size_t room = c->limit - c->len;
	if (room > sizeof(c->buf) - c->len)
		room = sizeof(c->buf) - c->len;
	size_t take = n < room ? n : room;
	memcpy(c->buf + c->len, p, take);
	c->len += take;
	if (take < n) {
		c->paused = true;
		tty_pause_input(c->b);
	}
	pthread_mutex_unlock(&c->lock);
	return take;
}

static size_t consumed(struct consumer *c, char *out, size_t outlen)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->len < outlen ? c->len : outlen;
	memcpy(out, c->buf, n);
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void consumer_allow(struct consumer *c, size_t limit)
{
	pthread_mutex_lock(&c->lock);
	c->limit = limit;
	if (c->paused) {
		c->paused = false;
		tty_resume_input(c->b);
	}
	pthread_mutex_unlock(&c->lock);
}

/* ---- fixture: an event loop on its own thread, a scratch directory ---- */

struct fixture {
	struct evloop *ev;
	pthread_t loop;
	struct consumer c;
	struct tty_backend *b;
	char dir[64];
	char err[256];
};

static void *loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->ev = evloop_new();
	assert_non_null(f->ev);
	pthread_mutex_init(&f->c.lock, NULL);
	f->c.limit = SIZE_MAX;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kbtty.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f->ev), 0);
	*state = f;
	return 0;
}

/* Stop the loop first: tty_close runs with the loop stopped. */
static int teardown(void **state)
{
	struct fixture *f = *state;
	evloop_stop(f->ev, 0);
	pthread_join(f->loop, NULL);
	tty_close(f->b);
	evloop_free(f->ev);
	pthread_mutex_destroy(&f->c.lock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int open_backend(struct fixture *f, const char *spec)
{
	pthread_mutex_lock(&f->c.lock); /* input may arrive before tty_open returns */
	int rc = tty_open(&f->b, spec, "com1", f->ev, consume, &f->c, f->err, sizeof(f->err));
	f->c.b = f->b;
	pthread_mutex_unlock(&f->c.lock);
	return rc;
}

static void path_in(struct fixture *f, char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", f->dir, name);
}

/* Read exactly n bytes within a few seconds; returns how many arrived. */
static size_t read_exact(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* Wait until the consumer holds `want` bytes; returns how many it holds. */
static size_t wait_consumed(struct consumer *c, char *out, size_t want)
{
	size_t n = 0;
	for (int i = 0; i < 5000; i++) {
		n = consumed(c, out, want);
		if (n >= want)
			break;
		usleep(1000);
	}
	return n;
}

static int open_slave_of(const char *desc)
{
	assert_memory_equal(desc, "pty /dev/pts/", 13);
	int s = open(desc + 4, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	return s;
}

/* ---- pty ---- */

static void test_pty_roundtrip(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(open_backend(f, "pty"), 0);
	int s = open_slave_of(tty_describe(f->b));

	/* raw: "\n" is not turned into "\r\n" and nothing echoes back */
	tty_write(f->b, "hello\n", 6);
	char buf[16] = {0};
	assert_int_equal(read_exact(s, buf, 6), 6);
	assert_memory_equal(buf, "hello\n", 6);

	assert_int_equal(write(s, "abc\x03", 4), 4); /* ^C is data, not a signal */
	char in[8];
	assert_int_equal(wait_consumed(&f->c, in, 4), 4);
	assert_memory_equal(in, "abc\x03", 4);
	close(s);

	/* the user detaching does not hang the port up */
	s = open_slave_of(tty_describe(f->b));
	tty_write(f->b, "again", 5);
	assert_int_equal(read_exact(s, buf, 5), 5);
	assert_memory_equal(buf, "again", 5);
	close(s);
}

static void test_pty_link(void **state)
{
	struct fixture *f = *state;
	char link[128], spec[160], target[64];
	path_in(f, link, sizeof(link), "console");
	/* a stale link from an earlier run is replaced */
	assert_int_equal(symlink("/dev/pts/does-not-exist", link), 0);
	snprintf(spec, sizeof(spec), "pty:%s", link);
	assert_int_equal(open_backend(f, spec), 0);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, tty_describe(f->b) + 4);

	int s = open(link, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	tty_write(f->b, "via link", 8);
	char buf[8];
	assert_int_equal(read_exact(s, buf, 8), 8);
	assert_memory_equal(buf, "via link", 8);
	close(s);

	evloop_stop(f->ev, 0);
	pthread_join(f->loop, NULL);
	tty_close(f->b);
	f->b = NULL;
	struct stat st;
	assert_int_equal(lstat(link, &st), -1); /* removed at close */
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f->ev), 0);

	/* anything that is not a symlink is left alone */
	int fd = open(link, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(open_backend(f, spec), -EEXIST);
	assert_non_null(strstr(f->err, link));
	assert_non_null(strstr(f->err, "not a symlink"));
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	unlink(link);
}

static void test_pty_input_flow_control(void **state)
{
	struct fixture *f = *state;
	f->c.limit = 5;
	assert_int_equal(open_backend(f, "pty"), 0);
	int s = open_slave_of(tty_describe(f->b));
	const char *msg = "0123456789abcdefghij";
	assert_int_equal(write(s, msg, 20), 20);
	char in[32];
	assert_int_equal(wait_consumed(&f->c, in, 5), 5);
	usleep(50000);
	assert_int_equal(consumed(&f->c, in, sizeof(in)), 5); /* paused: nothing more */
	/* resuming delivers what the backend held, then the rest, in order */
	consumer_allow(&f->c, 12);
	assert_int_equal(wait_consumed(&f->c, in, 12), 12);
	consumer_allow(&f->c, SIZE_MAX);
	assert_int_equal(wait_consumed(&f->c, in, 20), 20);
	assert_memory_equal(in, msg, 20);
	close(s);
}

struct late_reader {
	int fd;
	char buf[32];
	size_t got;
};

static void *read_late(void *arg)
{
	struct late_reader *r = arg;
	usleep(50000); /* attached, but slow to read: a loaded host */
	r->got = read_exact(r->fd, r->buf, 10);
	return NULL;
}

/* The guest's last output before bhyve exits reaches an attached reader: closing the master
 * hangs up the slave and the kernel drops what was not read, so the close waits for it. */
static void test_pty_close_lets_reader_drain(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(open_backend(f, "pty"), 0);
	struct late_reader r = {.fd = open_slave_of(tty_describe(f->b))};
	tty_write(f->b, "last words", 10);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_late, &r), 0);
	evloop_stop(f->ev, 0);
	pthread_join(f->loop, NULL);
	tty_close(f->b);
	f->b = NULL;
	pthread_join(t, NULL);
	assert_int_equal(r.got, 10);
	assert_memory_equal(r.buf, "last words", 10);
	close(r.fd);

	/* with nobody reading, the close still ends */
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f->ev), 0);
	assert_int_equal(open_backend(f, "pty"), 0);
	tty_write(f->b, "unread", 6);
}

static void test_output_buffer_drops_oldest(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(open_backend(f, "pty"), 0);
	int s = open_slave_of(tty_describe(f->b));
	/* nobody reads the slave while 1 MiB goes out in UART-sized pieces: never blocks */
	const size_t total = 1024 * 1024;
	uint8_t *out = malloc(total);
	for (size_t i = 0; i < total; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	for (size_t i = 0; i < total; i += 16)
		tty_write(f->b, out + i, 16);
	uint64_t dropped = tty_dropped(f->b);
	assert_true(dropped > 0);
	assert_true(dropped < total);

	/* reading lets the loop flush the buffer: everything not dropped arrives, newest last */
	size_t want = total - dropped;
	uint8_t *in = malloc(want + 1);
	assert_int_equal(read_exact(s, in, want), want);
	assert_memory_equal(in + want - TTY_OUTBUF_SIZE, out + total - TTY_OUTBUF_SIZE,
			    TTY_OUTBUF_SIZE);
	struct pollfd p = {.fd = s, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 100), 0); /* and nothing more */
	free(in);
	free(out);
	close(s);
}

/* ---- terminal device ---- */

static void test_device_path(void **state)
{
	struct fixture *f = *state;
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	char slave[64];
	assert_int_equal(ptsname_r(m, slave, sizeof(slave)), 0);
	struct termios before;
	assert_int_equal(tcgetattr(m, &before), 0);
	assert_true(before.c_lflag & ICANON);

	assert_int_equal(open_backend(f, slave), 0);
	assert_string_equal(tty_describe(f->b), slave);
	struct termios raw;
	assert_int_equal(tcgetattr(m, &raw), 0);
	assert_false(raw.c_lflag & (ICANON | ECHO));

	tty_write(f->b, "dev\n", 4);
	char buf[8];
	assert_int_equal(read_exact(m, buf, 4), 4);
	assert_memory_equal(buf, "dev\n", 4);
	assert_int_equal(write(m, "xyz", 3), 3);
	assert_int_equal(wait_consumed(&f->c, buf, 3), 3);
	assert_memory_equal(buf, "xyz", 3);

	evloop_stop(f->ev, 0);
	pthread_join(f->loop, NULL);
	tty_close(f->b);
	f->b = NULL;
	struct termios after;
	assert_int_equal(tcgetattr(m, &after), 0);
	assert_true(after.c_lflag & ICANON); /* settings restored */
	close(m);
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f->ev), 0);
}

/* ---- sockets ---- */

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The peer closed us: EOF (or a reset) within a few seconds. */
static bool closed_by_peer(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 5000) <= 0)
		return false;
	char c;
	ssize_t r = read(fd, &c, 1);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* One client at a time: talk both ways, refuse a second, take a new one after it leaves. */
static void exercise_one_client(struct fixture *f, int (*connect_fn)(void *), void *arg)
{
	/* output without a client goes nowhere */
	tty_write(f->b, "nobody", 6);

	int c1 = connect_fn(arg);
	assert_int_equal(write(c1, "ping", 4), 4);
	char buf[16];
	assert_int_equal(wait_consumed(&f->c, buf, 4), 4); /* accepted */
	assert_memory_equal(buf, "ping", 4);
	tty_write(f->b, "pong", 4);
	assert_int_equal(read_exact(c1, buf, 4), 4);
	assert_memory_equal(buf, "pong", 4);

	int c2 = connect_fn(arg);
	assert_true(closed_by_peer(c2));
	close(c2);
	/* the first client is unaffected */
	tty_write(f->b, "still", 5);
	assert_int_equal(read_exact(c1, buf, 5), 5);
	assert_memory_equal(buf, "still", 5);

	close(c1);
	usleep(50000);
	tty_write(f->b, "lost", 4);
	int c3 = connect_fn(arg);
	assert_int_equal(write(c3, "hi", 2), 2);
	assert_int_equal(wait_consumed(&f->c, buf, 6), 6);
	assert_memory_equal(buf, "pinghi", 6);
	tty_write(f->b, "back", 4);
	assert_int_equal(read_exact(c3, buf, 4), 4);
	assert_memory_equal(buf, "back", 4); /* not "lost" or "nobody" */
	close(c3);
	assert_int_equal(tty_dropped(f->b), 0);
}

static int connect_unix_arg(void *arg)
{
	return unix_connect(arg);
}

static void test_unix_socket(void **state)
{
	struct fixture *f = *state;
	char path[128], spec[160];
	path_in(f, path, sizeof(path), "com1.sock");
	snprintf(spec, sizeof(spec), "unix=%s", path);
	assert_int_equal(open_backend(f, spec), 0);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	exercise_one_client(f, connect_unix_arg, path);

	/* a second backend on the same live socket is refused */
	struct tty_backend *other;
	char err[256];
	assert_int_equal(tty_open(&other, spec, "com2", f->ev, consume, &f->c, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, path));

	evloop_stop(f->ev, 0);
	pthread_join(f->loop, NULL);
	tty_close(f->b);
	f->b = NULL;
	assert_int_equal(lstat(path, &st), -1); /* removed at close */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(pthread_create(&f->loop, NULL, loop_thread, f->ev), 0);
}

static void test_unix_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	char path[100], spec[160];
	path_in(f, path, sizeof(path), "stale.sock");
	/* a socket file nobody listens on, as a crashed run leaves behind */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(spec, sizeof(spec), "unix=%s", path);
	assert_int_equal(open_backend(f, spec), 0);
	int c = unix_connect(path);
	assert_int_equal(write(c, "s", 1), 1);
	char buf[1];
	assert_int_equal(wait_consumed(&f->c, buf, 1), 1);
	close(c);
}

static void test_unix_refuses_regular_file(void **state)
{
	struct fixture *f = *state;
	char path[128], spec[160];
	path_in(f, path, sizeof(path), "notasocket");
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	snprintf(spec, sizeof(spec), "unix=%s", path);
	assert_int_equal(open_backend(f, spec), -EEXIST);
	assert_null(f->b);
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "not a socket"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	unlink(path);
}

static int connect_tcp_arg(void *arg)
{
	const struct sockaddr_in *sa = arg;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)sa, sizeof(*sa)), 0);
	return fd;
}

static void test_tcp_socket(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(open_backend(f, "tcp=127.0.0.1:0"), 0);
	unsigned port = 0;
	assert_int_equal(sscanf(tty_describe(f->b), "tcp 127.0.0.1:%u", &port), 1);
	assert_true(port > 0 && port < 65536);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	exercise_one_client(f, connect_tcp_arg, &sa);
}

static void test_tcp_ipv6_address(void **state)
{
	struct fixture *f = *state;
	int probe = socket(AF_INET6, SOCK_STREAM, 0);
	if (probe < 0)
		skip(); /* no IPv6 in this environment */
	close(probe);
	int rc = open_backend(f, "tcp=[::1]:0");
	if (rc == -EADDRNOTAVAIL)
		skip();
	assert_int_equal(rc, 0);
	unsigned port = 0;
	assert_int_equal(sscanf(tty_describe(f->b), "tcp [::1]:%u", &port), 1);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int c = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(c, "six", 3), 3);
	char buf[3];
	assert_int_equal(wait_consumed(&f->c, buf, 3), 3);
	assert_memory_equal(buf, "six", 3);
	close(c);
}

/* ---- stdio, in a child whose stdin/stdout are a fresh pty ---- */

static int stdio_child(const char *slave)
{
	int s = open(slave, O_RDWR | O_NOCTTY);
	if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0)
		return 10;
	struct termios before, now;
	if (tcgetattr(0, &before) < 0 || !(before.c_lflag & ICANON))
		return 11;
	struct evloop *ev = evloop_new();
	pthread_t t;
	if (!ev || pthread_create(&t, NULL, loop_thread, ev))
		return 12;
	struct consumer c = {.lock = PTHREAD_MUTEX_INITIALIZER, .limit = SIZE_MAX};
	struct tty_backend *b;
	char err[256];
	pthread_mutex_lock(&c.lock);
	int rc = tty_open(&b, "stdio", "com1", ev, consume, &c, err, sizeof(err));
	c.b = b;
	pthread_mutex_unlock(&c.lock);
	if (rc)
		return 13;
	struct tty_backend *b2;
	if (tty_open(&b2, "stdio", "com2", ev, consume, &c, err, sizeof(err)) != -EBUSY)
		return 14;
	if (!tty_stdio_raw() || tcgetattr(0, &now) < 0 || (now.c_lflag & (ICANON | ECHO)))
		return 15;
	/* the shared descriptions (the shell's) stay blocking */
	if ((fcntl(0, F_GETFL) & O_NONBLOCK) || (fcntl(1, F_GETFL) & O_NONBLOCK))
		return 16;
	tty_write(b, "out", 3);
	char in[2];
	if (wait_consumed(&c, in, 2) != 2 || memcmp(in, "in", 2) != 0)
		return 17;
	evloop_stop(ev, 0);
	pthread_join(t, NULL);
	tty_close(b);
	evloop_free(ev);
	if (tty_stdio_raw() || tcgetattr(0, &now) < 0 || !(now.c_lflag & ICANON) ||
	    !(now.c_lflag & ECHO))
		return 18;
	return 0;
}

static void test_stdio(void **state)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	char slave[64];
	assert_int_equal(ptsname_r(m, slave, sizeof(slave)), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stdio_child(slave));
	char buf[4];
	assert_int_equal(read_exact(m, buf, 3), 3);
	assert_memory_equal(buf, "out", 3); /* raw: no echo, no translation */
	assert_int_equal(write(m, "in", 2), 2);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(m);
}

/* ---- errors ---- */

static void expect_error(struct fixture *f, const char *spec, int rc, const char *needle)
{
	int got = open_backend(f, spec);
	if (got != rc || !strstr(f->err, needle))
		fail_msg("%s: got %d \"%s\", want %d containing \"%s\"", spec, got, f->err, rc,
			 needle);
	assert_null(f->b);
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	expect_error(f, "/nonexistent/ttyS9", -ENOENT, "/nonexistent/ttyS9");
	char file[128];
	path_in(f, file, sizeof(file), "plain");
	int fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	expect_error(f, file, -ENOTTY, "not a terminal");
	unlink(file);
	expect_error(f, "tcp=1.2.3:99", -EINVAL, "tcp=1.2.3:99: bad address");
	expect_error(f, "tcp=[1.2.3.4]:99", -EINVAL, "bad address");
	expect_error(f, "tcp=localhost:80", -EINVAL, "bad address");
	expect_error(f, "tcp=127.0.0.1:70000", -EINVAL, "IP:PORT");
	expect_error(f, "tcp=127.0.0.1", -EINVAL, "IP:PORT");
	expect_error(f, "tcp=::1:80", -EINVAL, "[IPv6]:PORT");
	expect_error(f, "tcp=127.0.0.1:", -EINVAL, "IP:PORT");
	expect_error(f, "tcp=192.0.2.1:4000", -EADDRNOTAVAIL, "cannot listen");
	expect_error(f, "bogus", -EINVAL, "unknown serial backend");
	expect_error(f, "unix=", -EINVAL, "empty");
	expect_error(f, "pty:", -EINVAL, "empty");
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix=/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	expect_error(f, longpath, -ENAMETOOLONG, "longer than");
	char nodir[160];
	snprintf(nodir, sizeof(nodir), "unix=%s/missing/sock", f->dir);
	expect_error(f, nodir, -ENOENT, "missing/sock");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pty_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pty_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pty_input_flow_control, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pty_close_lets_reader_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_buffer_drops_oldest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_stale_socket_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unix_refuses_regular_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_ipv6_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test(test_stdio),
	};
	return cmocka_run_group_tests_name("tty", tests, NULL, NULL);
}
