/* SPDX-License-Identifier: BSD-2-Clause */
/* A guest's run state: run.lock, then bhyve's control socket (runstate.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctlclient.h"
#include "ctl/ctlproto.h"
#include "vm/runlock.h"
#include "vm/runstate.h"

#define PROBE_TIMEOUT_MS 2000 /* a bhyve that does not answer in this time counts as gone */

/* The supervisor's bhyve: its child (the supervisor has no other lasting one; a prestart script
 * runs before bhyve, and bhyve's own children are not the supervisor's). 0 when it has none. */
static pid_t supervisor_child(pid_t sup)
{
	char p[64], buf[256];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/children", (int)sup, (int)sup);
	FILE *f = fopen(p, "re");
	if (!f)
		return 0;
	long pid = 0;
	if (fgets(buf, sizeof(buf), f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	return pid > 0 ? (pid_t)pid : 0;
}

static int connect_vm(const char *name, struct ctl_conn *c, char *err, size_t errlen)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r = ctl_socket_path(name, path, sizeof(path), err, errlen);
	if (r < 0)
		return r;
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "no control socket %s", path);
		return -ENOENT;
	}
	return ctl_connect(c, path, PROBE_TIMEOUT_MS, err, errlen);
}

int guest_ctl_connect(const char *name, struct ctl_conn *c, int timeout_ms, char *err,
		      size_t errlen)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int r = ctl_socket_path(name, path, sizeof(path), err, errlen);
	return r < 0 ? r : ctl_connect(c, path, timeout_ms, err, errlen);
}

static void take_pid(const char *key, const char *value, void *opaque)
{
	if (strcmp(key, "pid") == 0)
		*(pid_t *)opaque = (pid_t)strtol(value, NULL, 10);
}

pid_t guest_ctl_pid(const char *name)
{
	struct ctl_conn c;
	char err[CTL_REPLY_LINE_MAX + 64];
	if (connect_vm(name, &c, err, sizeof(err)) < 0)
		return 0;
	pid_t pid = 0;
	if (ctl_request(&c, "status", take_pid, &pid, PROBE_TIMEOUT_MS, err, sizeof(err)) < 0)
		pid = 0;
	ctl_disconnect(&c);
	return pid > 0 ? pid : 0;
}

int guest_ctl_request(const char *name, const char *request, int wait_ms, char *err, size_t errlen)
{
	struct ctl_conn c;
	int r = connect_vm(name, &c, err, errlen);
	if (r < 0)
		return r;
	r = ctl_request(&c, request, NULL, NULL, PROBE_TIMEOUT_MS * 5, err, errlen);
	if (r == 0 && wait_ms > 0 && ctl_wait_closed(&c, wait_ms) < 0) {
		snprintf(err, errlen, "bhyve did not stop within %d s", wait_ms / 1000);
		r = -ETIMEDOUT;
	}
	ctl_disconnect(&c);
	return r;
}

void guest_state_get(const struct guest *g, struct guest_state *st)
{
	memset(st, 0, sizeof(*st));
	switch (runlock_probe(g->dir, &st->supervisor, st->host, sizeof(st->host))) {
	case RUN_RUNNING:
		st->run = GUEST_RUNNING;
		st->bhyve = st->supervisor > 0 ? supervisor_child(st->supervisor) : 0;
		return;
	case RUN_OTHER_HOST:
		st->run = GUEST_OTHER_HOST;
		st->supervisor = 0;
		return;
	case RUN_BUSY:
		st->run = GUEST_BUSY;
		return;
	default:
		break;
	}
	st->supervisor = 0;
	st->bhyve = guest_ctl_pid(g->name);
	st->run = st->bhyve > 0 ? GUEST_ORPHAN : GUEST_STOPPED;
}
