/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/exitcode.h"
#include "core/hostpath.h"
#include "core/log.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "ctl/ctlproto.h"
#include "ctl/ctlsocket.h"
#include "devices/pm.h"
#include "snapshot/checkpoint.h"
#include "snapshot/migrate.h"

#define CTL_MAX_CLIENTS 16
#define CTL_STATS_NAME_MAX 32
#define CTL_ACCEPT_RETRY_MS 1000
/* A connection that has sent and received nothing for this long gives its slot to a new one
 * when all slots are taken (bhyvectl and vm are done within milliseconds), and any connection
 * idle for CTL_IDLE_MAX_MS is dropped when the next one arrives. */
#define CTL_IDLE_EVICT_MS 2000
#define CTL_IDLE_MAX_MS 30000
#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

/* Names of the per-vCPU counters (enum vcpu_stat) in "stats" replies. */
static const char *const vcpu_stat_names[] = {
    [VSTAT_EXITS] = "exits", [VSTAT_IO] = "io",	    [VSTAT_MMIO] = "mmio",
    [VSTAT_MSR] = "msr",     [VSTAT_INTR] = "intr", [VSTAT_HALT_PROBES] = "halt_probes",
};
_Static_assert(sizeof(vcpu_stat_names) / sizeof(vcpu_stat_names[0]) == VSTAT_MAX,
	       "every vCPU counter needs a name for bhyvectl --get-stats");

struct ctl_stats_src {
	char name[CTL_STATS_NAME_MAX + 1];
	ctl_stats_fn fn;
	void *opaque;
	struct ctl_stats_src *next;
};

struct ctl_stats_out {
	struct ctl_buf *buf;
	const char *prefix;
};

struct ctl_server;

struct ctl_client {
	struct ctl_server *srv;
	int fd;
	struct evloop_handle *h;
	uint32_t events;    /* what h watches now */
	bool eof;	    /* the client will send nothing more */
	uint64_t active_ms; /* monotonic time of the last byte in or out */
	struct ctl_linebuf in;
	struct ctl_buf out; /* at most one reply (or the greeting) waiting to be sent */
	/* descriptors passed with the request being read (checkpoint files), until used */
	int fds[CTL_MAX_FDS];
	int nfds;
	bool fds_overflow; /* more came than a request takes: the next request fails */
	bool waiting;	   /* its request (a checkpoint) is answered later */
	struct ctl_client *prev, *next;
};

struct ctl_server {
	struct vm *vm;
	int listen_fd;
	struct evloop_handle *listen_h, *retry_h;
	char path[SUN_PATH_SIZE]; /* our socket file, "" until bound */
	struct stat st; /* that file, removed at exit only if still ours */
	struct timespec t0;
	pthread_mutex_t stats_lock; /* the stats list: devices may register while we serve */
	struct ctl_stats_src *stats;
	struct ctl_client *clients;
	int nclients;
	struct ctl_client *waiting_client; /* whose checkpoint runs, NULL once it hung up */
	struct ctl_server *next;
};

/* One server per VM, found by the VM pointer (struct vm has no slot for it). */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_server *servers;

static void drop_fds(struct ctl_client *c)
{
	for (int i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	c->nfds = 0;
	c->fds_overflow = false;
}

static void client_close(struct ctl_client *c)
{
	struct ctl_server *srv = c->srv;
	if (srv->waiting_client == c)
		srv->waiting_client = NULL; /* the checkpoint goes on; nobody hears its end */
	drop_fds(c);
	evloop_del(srv->vm->ev, c->h);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nclients--;
	ctl_buf_free(&c->out);
	free(c);
}

static void server_destroy(void *opaque)
{
	struct ctl_server *srv = opaque;
	pthread_mutex_lock(&servers_lock);
	for (struct ctl_server **p = &servers; *p; p = &(*p)->next) {
		if (*p == srv) {
			*p = srv->next;
			break;
		}
	}
	pthread_mutex_unlock(&servers_lock);
	/* the file goes first: once a client sees its connection close, the name is free */
	ctl_unlink_if_same(srv->path, &srv->st);
	while (srv->clients)
		client_close(srv->clients);
	if (srv->vm->ev) {
		evloop_del(srv->vm->ev, srv->listen_h);
		evloop_del(srv->vm->ev, srv->retry_h);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	while (srv->stats) {
		struct ctl_stats_src *s = srv->stats;
		srv->stats = s->next;
		free(s);
	}
	pthread_mutex_destroy(&srv->stats_lock);
	free(srv);
}

/* The VM's server, created (without a socket) on first use when `create`. */
static struct ctl_server *server_for(struct vm *vm, bool create)
{
	pthread_mutex_lock(&servers_lock);
	struct ctl_server *srv = servers;
	while (srv && srv->vm != vm)
		srv = srv->next;
	if (!srv && create) {
		srv = calloc(1, sizeof(*srv));
		if (srv) {
			srv->vm = vm;
			srv->listen_fd = -1;
			pthread_mutex_init(&srv->stats_lock, NULL);
			clock_gettime(CLOCK_MONOTONIC, &srv->t0);
			if (vm_at_destroy(vm, server_destroy, srv) < 0) {
				pthread_mutex_destroy(&srv->stats_lock);
				free(srv);
				srv = NULL;
			} else {
				srv->next = servers;
				servers = srv;
			}
		}
	}
	pthread_mutex_unlock(&servers_lock);
	return srv;
}

/* ---- replies ---- */

static uint64_t uptime_ms(const struct ctl_server *srv)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(now.tv_sec - srv->t0.tv_sec) * 1000 +
		     (now.tv_nsec - srv->t0.tv_nsec) / 1000000;
	return ms > 0 ? (uint64_t)ms : 0;
}

static void reply_status(struct ctl_server *srv, struct ctl_buf *out)
{
	struct vm *vm = srv->vm;
	ctl_buf_data(out, "name", "%s", vm->name ? vm->name : "");
	ctl_buf_data(out, "pid", "%ld", (long)getpid());
	ctl_buf_data(out, "uptime_ms", "%llu", (unsigned long long)uptime_ms(srv));
	ctl_buf_data(out, "cpus", "%d", vm->nvcpus);
	ctl_buf_data(out, "memory", "%llu", (unsigned long long)vm->mem.size);
	ctl_buf_ok(out);
}

static void reply_stats(struct ctl_server *srv, struct ctl_buf *out)
{
	struct vm *vm = srv->vm;
	ctl_buf_data(out, "vm.uptime_ms", "%llu", (unsigned long long)uptime_ms(srv));
	ctl_buf_data(out, "vm.memory", "%llu", (unsigned long long)vm->mem.size);
	ctl_buf_data(out, "vm.vcpus", "%d", vm->nvcpus);
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct vcpu *v = vm->vcpus[i];
		for (int s = 0; s < VSTAT_MAX; s++) {
			char key[CTL_KEY_MAX + 1];
			snprintf(key, sizeof(key), "vcpu%d.%s", i, vcpu_stat_names[s]);
			/* written by the vCPU thread without a lock: a relaxed load is enough */
			uint64_t val = __atomic_load_n(&v->stats[s], __ATOMIC_RELAXED);
			ctl_buf_data(out, key, "%llu", (unsigned long long)val);
		}
	}
	pthread_mutex_lock(&srv->stats_lock);
	for (struct ctl_stats_src *s = srv->stats; s; s = s->next) {
		struct ctl_stats_out so = {.buf = out, .prefix = s->name};
		s->fn(&so, s->opaque);
	}
	pthread_mutex_unlock(&srv->stats_lock);
	ctl_buf_ok(out);
}

static void reply_stop(struct ctl_server *srv, struct ctl_buf *out, int code, const char *what)
{
	struct vm *vm = srv->vm;
	if (atomic_load(&vm->exit_code) >= 0) {
		ctl_buf_error(out, "the VM is already stopping");
		return;
	}
	if (code == BHYVE_EXIT_ERROR)
		kb_log("destroyed by bhyvectl");
	else
		kb_debug("%s by bhyvectl", what);
	vm_request_exit(vm, code);
	ctl_buf_ok(out);
}

static void reply_help(struct ctl_buf *out)
{
	char list[256] = "";
	size_t n = 0;
	for (int i = 0; i < CTL_CMD_COUNT; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? " " : "",
				      ctl_cmd_name((enum ctl_cmd)i));
	ctl_buf_data(out, "commands", "%s", list);
	ctl_buf_ok(out);
}

static int client_flush(struct ctl_client *c);
static void client_continue(struct ctl_client *c);

/* ---- requests answered when they end (checkpoint, suspend, migrate): one at a time ---- */

/* Whether client c may start one now, holding `nfds` descriptors; else its error reply. */
static bool long_request_ok(struct ctl_client *c, int nfds, const char *what_fds)
{
	if (c->srv->waiting_client) {
		ctl_buf_error(&c->out, "a checkpoint or migration is running already");
		return false;
	}
	if (c->nfds != nfds || c->fds_overflow) {
		ctl_buf_error(&c->out, "%s", what_fds);
		return false;
	}
	if (atomic_load(&c->srv->vm->exit_code) >= 0) {
		ctl_buf_error(&c->out, "the VM is stopping");
		return false;
	}
	return true;
}

static void long_request_started(struct ctl_client *c, const char *what)
{
	kb_debug("%s started by bhyvectl", what);
	c->waiting = true;
	c->srv->waiting_client = c;
}

/* The client whose request ended, ready for its answer (after the data lines: ctl_buf_ok or
 * the error, then client_continue); NULL when it hung up meanwhile. */
static struct ctl_client *long_request_ended(struct ctl_server *srv, int rc, const char *err)
{
	struct ctl_client *c = srv->waiting_client;
	srv->waiting_client = NULL;
	if (!c)
		return NULL;
	c->waiting = false;
	if (rc) {
		ctl_buf_error(&c->out, "%s", err);
		client_continue(c);
		return NULL;
	}
	return c;
}

static void checkpoint_done(void *opaque, int rc, const char *err, const struct checkpoint_result *r)
{
	if (rc)
		kb_log("checkpoint failed: %s", err);
	else
		kb_debug("checkpoint: %llu bytes of RAM, %llu of state, vCPUs paused %u ms",
			 (unsigned long long)r->mem_bytes, (unsigned long long)r->kern_bytes,
			 r->pause_ms);
	struct ctl_client *c = long_request_ended(opaque, rc, err);
	if (!c)
		return;
	ctl_buf_data(&c->out, "mem_bytes", "%llu", (unsigned long long)r->mem_bytes);
	ctl_buf_data(&c->out, "kern_bytes", "%llu", (unsigned long long)r->kern_bytes);
	ctl_buf_data(&c->out, "pause_ms", "%u", r->pause_ms);
	ctl_buf_data(&c->out, "total_ms", "%u", r->total_ms);
	ctl_buf_ok(&c->out);
	client_continue(c);
}

static void reply_checkpoint(struct ctl_client *c, bool suspend)
{
	const char *what = suspend ? "suspend" : "checkpoint";
	char err[256];
	snprintf(err, sizeof(err),
		 "%s needs three open files passed with the request (FILE, FILE.kern, FILE.meta)",
		 what);
	if (!long_request_ok(c, 3, err))
		return;
	int fds[3] = {c->fds[0], c->fds[1], c->fds[2]};
	c->nfds = 0; /* checkpoint_start owns them now */
	if (checkpoint_start(c->srv->vm, fds, suspend, checkpoint_done, c->srv, err, sizeof(err)) <
	    0) {
		ctl_buf_error(&c->out, "%s", err);
		return;
	}
	long_request_started(c, what);
}

static void migrate_done(void *opaque, int rc, const char *err, const struct migrate_result *r)
{
	if (rc)
		kb_log("migration failed: %s; the guest runs on here", err);
	else
		kb_debug("migrated in %u rounds, %llu bytes, paused %u ms", r->rounds,
			 (unsigned long long)r->mem_bytes, r->pause_ms);
	struct ctl_client *c = long_request_ended(opaque, rc, err);
	if (!c)
		return;
	ctl_buf_data(&c->out, "rounds", "%u", r->rounds);
	ctl_buf_data(&c->out, "mem_bytes", "%llu", (unsigned long long)r->mem_bytes);
	ctl_buf_data(&c->out, "final_bytes", "%llu", (unsigned long long)r->final_bytes);
	ctl_buf_data(&c->out, "pause_ms", "%u", r->pause_ms);
	ctl_buf_data(&c->out, "total_ms", "%u", r->total_ms);
	ctl_buf_ok(&c->out);
	client_continue(c);
}

static void reply_migrate(struct ctl_client *c, long downtime)
{
	if (!long_request_ok(c, 1,
			     "migrate needs the connection to the destination passed with the "
			     "request"))
		return;
	int type = 0;
	socklen_t tl = sizeof(type);
	if (getsockopt(c->fds[0], SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
		ctl_buf_error(&c->out, "migrate needs a stream socket");
		return;
	}
	char err[256];
	int sock = c->fds[0];
	c->nfds = 0; /* migrate_start owns it now */
	if (migrate_start(c->srv->vm, sock, downtime > 0 ? (unsigned)downtime : 0, migrate_done,
			  c->srv, err, sizeof(err)) < 0) {
		ctl_buf_error(&c->out, "%s", err);
		return;
	}
	long_request_started(c, "migration");
}

static void handle_request(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_server *srv = c->srv;
	struct ctl_buf *out = &c->out;
	enum ctl_cmd cmd;
	char err[160];
	long arg;
	if (ctl_parse_request_arg(line, len, &cmd, &arg, err, sizeof(err)) < 0) {
		ctl_buf_error(out, "%s", err);
		return;
	}
	switch (cmd) {
	case CTL_CMD_STATUS:
		reply_status(srv, out);
		break;
	case CTL_CMD_STATS:
		reply_stats(srv, out);
		break;
	case CTL_CMD_DESTROY:
		reply_stop(srv, out, BHYVE_EXIT_ERROR, "destroyed");
		break;
	case CTL_CMD_FORCE_RESET:
		reply_stop(srv, out, BHYVE_EXIT_REBOOT, "forced reset");
		break;
	case CTL_CMD_FORCE_POWEROFF:
		reply_stop(srv, out, BHYVE_EXIT_POWEROFF, "forced poweroff");
		break;
	case CTL_CMD_POWEROFF:
		kb_debug("power button pressed by bhyvectl");
		pm_power_button();
		ctl_buf_ok(out);
		break;
	case CTL_CMD_CHECKPOINT:
	case CTL_CMD_SUSPEND:
		reply_checkpoint(c, cmd == CTL_CMD_SUSPEND);
		break;
	case CTL_CMD_MIGRATE:
		reply_migrate(c, arg);
		break;
	case CTL_CMD_HELP:
	case CTL_CMD_COUNT:
		reply_help(out);
		break;
	}
	drop_fds(c); /* descriptors are for the request they came with */
	if (out->overflow) {
		ctl_buf_reset(out);
		ctl_buf_error(out, "reply larger than %d bytes", CTL_REPLY_MAX);
	}
}

/* ---- connections ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Send what is buffered: 0 (all sent, or the socket is full) or -1 when the client is gone. */
static int client_flush(struct ctl_client *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			ctl_buf_consume(&c->out, (size_t)n);
			c->active_ms = mono_ms();
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return 0;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Answer buffered requests in order, one at a time: the next is read only once the previous
 * reply has gone out, which bounds what a client can make us buffer. */
static int client_serve(struct ctl_client *c)
{
	char line[CTL_REQUEST_MAX + 1];
	while (c->out.len == 0 && !c->waiting) {
		size_t len;
		enum ctl_line_status st = ctl_linebuf_next(&c->in, line, sizeof(line), &len);
		if (st == CTL_LINE_NONE)
			break;
		if (st == CTL_LINE_TOO_LONG)
			ctl_buf_error(&c->out, "request longer than %d bytes", CTL_REQUEST_MAX);
		else
			handle_request(c, line, len);
		if (client_flush(c) < 0)
			return -1;
	}
	return 0;
}

/* Read what the client sent, with any descriptors passed alongside (SCM_RIGHTS). */
static ssize_t client_recv(struct ctl_client *c, char *buf, size_t room)
{
	struct iovec iov = {buf, room};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
	} ctrl;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctrl,
			     .msg_controllen = sizeof(ctrl)};
	ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0)
		return n;
	if (msg.msg_flags & MSG_CTRUNC)
		c->fds_overflow = true; /* the kernel closed what did not fit */
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *in = (const int *)CMSG_DATA(h);
		for (size_t i = 0; i < k; i++) {
			if (c->nfds < CTL_MAX_FDS) {
				c->fds[c->nfds++] = in[i];
			} else {
				close(in[i]);
				c->fds_overflow = true;
			}
		}
	}
	return n;
}

/* Watch what the connection needs next: -1 when it is finished. */
static int client_rearm(struct ctl_client *c)
{
	uint32_t want;
	if (c->out.len > 0)
		want = EPOLLOUT;
	else if (c->waiting)
		want = 0; /* only a hang-up, until the answer is ready */
	else if (c->eof)
		return -1; /* every request answered */
	else
		want = EPOLLIN;
	if (want != c->events) {
		if (evloop_modify(c->srv->vm->ev, c->h, want) < 0)
			return -1;
		c->events = want;
	}
	return 0;
}

/* A late answer is ready: send it, then serve what the client sent meanwhile. */
static void client_continue(struct ctl_client *c)
{
	if (client_flush(c) < 0 || client_serve(c) < 0 || client_rearm(c) < 0)
		client_close(c);
}

static void client_io(int fd, uint32_t events, void *opaque)
{
	struct ctl_client *c = opaque;
	if ((events & EPOLLERR) || client_flush(c) < 0 || client_serve(c) < 0)
		goto close;
	if (c->waiting && (events & EPOLLHUP))
		goto close;
	if (c->out.len == 0 && !c->eof && !c->waiting && (events & (EPOLLIN | EPOLLHUP))) {
		size_t room;
		char *tail = ctl_linebuf_tail(&c->in, &room);
		ssize_t n = client_recv(c, tail, room);
		if (n > 0) {
			ctl_linebuf_commit(&c->in, (size_t)n);
			c->active_ms = mono_ms();
		} else if (n == 0) {
			c->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			goto close;
		}
		if (client_serve(c) < 0)
			goto close;
	}
	(void)fd;
	if (client_rearm(c) == 0)
		return;
close:
	client_close(c);
}

static void reject_client(int fd, const char *why)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "error: %s\n", why);
	ssize_t r = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)r;
	close(fd);
}

/* Drop connections idle for CTL_IDLE_MAX_MS; when every slot is taken, also the one idle the
 * longest if that is CTL_IDLE_EVICT_MS or more, so that idle connections cannot lock the owner
 * out. */
static void drop_idle_clients(struct ctl_server *srv)
{
	uint64_t now = mono_ms();
	struct ctl_client *oldest = NULL;
	for (struct ctl_client *c = srv->clients, *next; c; c = next) {
		next = c->next;
		if (now - c->active_ms >= CTL_IDLE_MAX_MS) {
			kb_debug("control socket: dropping a connection idle for %llu ms",
				 (unsigned long long)(now - c->active_ms));
			client_close(c);
		} else if (!oldest || c->active_ms < oldest->active_ms) {
			oldest = c;
		}
	}
	if (srv->nclients >= CTL_MAX_CLIENTS && oldest &&
	    now - oldest->active_ms >= CTL_IDLE_EVICT_MS) {
		kb_debug("control socket: all connections busy; dropping one idle for %llu ms",
			 (unsigned long long)(now - oldest->active_ms));
		client_close(oldest);
	}
}

static void add_client(struct ctl_server *srv, int fd)
{
	drop_idle_clients(srv);
	if (srv->nclients >= CTL_MAX_CLIENTS) {
		reject_client(fd, "too many control connections");
		return;
	}
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (!c) {
		reject_client(fd, "out of memory");
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->active_ms = mono_ms();
	ctl_linebuf_init(&c->in, CTL_REQUEST_MAX);
	/* room for the largest reply and an error line after an overflow */
	ctl_buf_init(&c->out, CTL_REPLY_MAX + CTL_REPLY_LINE_MAX + 1);
	ctl_buf_greeting(&c->out);
	c->events = EPOLLOUT;
	c->h = evloop_add_fd(srv->vm->ev, fd, c->events, client_io, c);
	if (!c->h) {
		ctl_buf_free(&c->out);
		free(c);
		reject_client(fd, "cannot watch the connection");
		return;
	}
	c->next = srv->clients;
	if (srv->clients)
		srv->clients->prev = c;
	srv->clients = c;
	srv->nclients++;
}

static void accept_retry(void *opaque)
{
	struct ctl_server *srv = opaque;
	evloop_del(srv->vm->ev, srv->retry_h);
	srv->retry_h = NULL;
	evloop_modify(srv->vm->ev, srv->listen_h, EPOLLIN);
}

static void on_accept(int fd, uint32_t events, void *opaque)
{
	struct ctl_server *srv = opaque;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			add_client(srv, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the pending connection would wake us again at once: pause accepting */
			kb_log("control socket: accept: %s", strerror(errno));
			if (!srv->retry_h) {
				srv->retry_h = evloop_add_timer(srv->vm->ev, CTL_ACCEPT_RETRY_MS, 0,
								accept_retry, srv);
				if (srv->retry_h)
					evloop_modify(srv->vm->ev, srv->listen_h, 0);
			}
		}
		return;
	}
}

/* ---- the socket file ---- */

/* Socket activation, sd_listen_fds(3)'s protocol: LISTEN_PID (this process) and LISTEN_FDS=1
 * hand over fd 3, a listening Unix stream socket bound by whoever started bhyve (vm's
 * supervisor, for a guest that runs as a user who cannot create the socket in the root-owned
 * folder). 1 with *fd, 0 when none is handed over, or -EINVAL with the reason. The file stays
 * its binder's to remove. */
#define CTL_LISTEN_FD 3
static int inherited_socket(int *fd, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds)
		return 0;
	char *end;
	long p = strtol(pid, &end, 10);
	if (*end || p != (long)getpid())
		return 0; /* meant for another process */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (strcmp(fds, "1") != 0) {
		snprintf(err, errlen, "LISTEN_FDS=%s: expected one socket, the control socket", fds);
		return -EINVAL;
	}
	int type = 0, domain = 0, listening = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(domain), l3 = sizeof(listening);
	if (getsockopt(CTL_LISTEN_FD, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 ||
	    getsockopt(CTL_LISTEN_FD, SOL_SOCKET, SO_DOMAIN, &domain, &l2) < 0 ||
	    getsockopt(CTL_LISTEN_FD, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l3) < 0 ||
	    type != SOCK_STREAM || domain != AF_UNIX || !listening) {
		snprintf(err, errlen,
			 "LISTEN_FDS: descriptor %d is not a listening Unix stream socket",
			 CTL_LISTEN_FD);
		return -EINVAL;
	}
	int fl = fcntl(CTL_LISTEN_FD, F_GETFL);
	if (fl < 0 || fcntl(CTL_LISTEN_FD, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(CTL_LISTEN_FD, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "control socket (descriptor %d): %s", CTL_LISTEN_FD,
			 strerror(errno));
		return -EINVAL;
	}
	*fd = CTL_LISTEN_FD;
	return 1;
}

int ctl_init(struct vm *vm, char *err, size_t errlen)
{
	char path[SUN_PATH_SIZE];
	int given = -1;
	int rc = inherited_socket(&given, err, errlen);
	if (rc < 0)
		return rc;
	struct ctl_server *srv = server_for(vm, true);
	if (!srv) {
		snprintf(err, errlen, "control socket: out of memory");
		return -ENOMEM;
	}
	if (srv->listen_fd >= 0) {
		snprintf(err, errlen, "control socket %s is already open", srv->path);
		return -EBUSY;
	}
	if (given >= 0) {
		srv->listen_fd = given;
		snprintf(path, sizeof(path), "descriptor %d", given);
	} else {
		struct stat st;
		rc = ctl_listen(vm->name ? vm->name : "", CTL_BACKLOG, path, sizeof(path), &st,
				err, errlen);
		if (rc < 0)
			return rc;
		srv->listen_fd = rc;
		snprintf(srv->path, sizeof(srv->path), "%s", path);
		srv->st = st;
		hostpath_note(path, HOSTPATH_UNLINK); /* removed at exit */
	}
	clock_gettime(CLOCK_MONOTONIC, &srv->t0);
	srv->listen_h = evloop_add_fd(vm->ev, srv->listen_fd, EPOLLIN, on_accept, srv);
	if (!srv->listen_h) {
		snprintf(err, errlen, "%s: cannot watch the control socket", path);
		return -ENOMEM;
	}
	kb_debug("control socket %s", path);
	return 0;
}

/* ---- device counters ---- */

int ctl_register_stats(struct vm *vm, const char *name, ctl_stats_fn fn, void *opaque)
{
	size_t n = strlen(name);
	if (n == 0 || n > CTL_STATS_NAME_MAX || !fn ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
		return -EINVAL;
	struct ctl_server *srv = server_for(vm, true);
	if (!srv)
		return -ENOMEM;
	int rc = 0;
	pthread_mutex_lock(&srv->stats_lock);
	struct ctl_stats_src **tail = &srv->stats;
	for (; *tail; tail = &(*tail)->next) {
		if (strcmp((*tail)->name, name) == 0) {
			rc = -EEXIST;
			break;
		}
	}
	if (rc == 0) {
		struct ctl_stats_src *s = calloc(1, sizeof(*s));
		if (!s) {
			rc = -ENOMEM;
		} else {
			memcpy(s->name, name, n + 1);
			s->fn = fn;
			s->opaque = opaque;
			*tail = s; /* in registration order */
		}
	}
	pthread_mutex_unlock(&srv->stats_lock);
	return rc;
}

__attribute__((format(printf, 3, 0))) static void stats_vline(struct ctl_stats_out *out, const char *key,
							     const char *fmt, va_list ap)
{
	char full[CTL_KEY_MAX + 2];
	int n = snprintf(full, sizeof(full), "%s.%s", out->prefix, key);
	if (n < 0 || n > CTL_KEY_MAX || ctl_buf_vdata(out->buf, full, fmt, ap) == -EINVAL)
		kb_debug("stats: %s: bad counter name '%s'", out->prefix, key);
}

void ctl_stats_printf(struct ctl_stats_out *out, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	stats_vline(out, key, fmt, ap);
	va_end(ap);
}

void ctl_stats_u64(struct ctl_stats_out *out, const char *key, uint64_t value)
{
	ctl_stats_printf(out, key, "%llu", (unsigned long long)value);
}
