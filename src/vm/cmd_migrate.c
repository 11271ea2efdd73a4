/* SPDX-License-Identifier: BSD-2-Clause */
/* vm migrate [-c] [-d datastore] [-t downtime_ms] <name> <host>: move a guest to another host
 * through ssh, where `vm _migrate_in` (cmd_migrate_in.c) takes it.
 *
 * Live (the default): the guest runs here. The other host gets the guest's configuration, makes
 * the guest's folder in its datastore (or reuses a stopped guest's of that name) and starts its
 * supervisor with bhyve -R on a free port; this host's bhyve then sends the running guest there
 * (the control socket's "migrate", as bhyvectl --migrate) and exits once it runs there. The
 * disks travel not: they must be at the same paths on both hosts (shared storage).
 * Cold (-c): the guest is stopped or suspended here; its folder is copied (tar, sparse files
 * kept sparse) into the other host's datastore, where vm start boots it, or resumes its suspend
 * state, which then leaves this host (one guest must not be resumed twice). Disks outside the
 * folder (disk_dev="custom") are not copied: the other host must see them at the same paths.
 * This host's copy of a cold-moved guest stays, stopped, as vm-bhyve's does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlclient.h"
#include "ctl/migconnect.h"
#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/migratelink.h"
#include "vm/names.h"
#include "vm/opts.h"
#include "vm/runlock.h"
#include "vm/runprog.h"
#include "vm/runstate.h"
#include "vm/suspendstate.h"
#include "vm/vmconf.h"

#define USAGE "usage: vm migrate [-c] [-d datastore] [-t downtime_ms] <name> <host>"
#define LISTEN_WAIT_MS (120 * 1000) /* ssh's login and the other side's bhyve start */
#define CONNECT_WAIT_MS (10 * 1000) /* until that bhyve -R accepts */
#define MIGRATE_TIMEOUT_MS (24 * 3600 * 1000)
#define RUNNING_WAIT_MS (60 * 1000) /* handed over: until the other side says it runs */

/* The host name ssh connects to for `host` (its config's HostName, user@ dropped): the migration's
 * TCP connection goes there too. 0, or -1 after one line. */
static int ssh_hostname(const char *host, char *out, size_t outlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "vm migrate: pipe: %s\n", strerror(errno));
		return -1;
	}
	char *const argv[] = {"ssh", "-G", (char *)host, NULL};
	char why[256] = "";
	int rc = runprog(argv, NULL, p[1], why, sizeof(why));
	close(p[1]);
	char buf[16384];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(p[0]);
	buf[len] = '\0';
	out[0] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "hostname ", 9))
			snprintf(out, outlen, "%s", line + 9);
	if (rc != 0 || !out[0]) {
		fprintf(stderr, "vm migrate: ssh -G %s: %s\n", host,
			why[0]	    ? why
			: rc == 127 ? "ssh is not installed"
				    : "no host name");
		return -1;
	}
	return 0;
}

static char *read_conf(const struct guest *g, size_t *len)
{
	int fd = open(g->conf_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > MIGRATELINK_CONF_MAX) {
		fprintf(stderr, "vm migrate: %s: %s\n", g->conf_path,
			fd < 0 ? strerror(errno) : "too large");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	char *text = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	ssize_t n = 0;
	while (text && got < (size_t)st.st_size &&
	       (n = read(fd, text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (!text || got != (size_t)st.st_size) {
		fprintf(stderr, "vm migrate: %s: cannot read it\n", g->conf_path);
		free(text);
		return NULL;
	}
	*len = got;
	return text;
}

struct migrate_result {
	unsigned pause_ms, total_ms;
};

static void take_result(const char *key, const char *value, void *opaque)
{
	struct migrate_result *r = opaque;
	if (!strcmp(key, "pause_ms"))
		r->pause_ms = (unsigned)strtoul(value, NULL, 10);
	else if (!strcmp(key, "total_ms"))
		r->total_ms = (unsigned)strtoul(value, NULL, 10);
}

/* Connect to the other side's bhyve -R at host:port, which may take a moment to listen. */
static int connect_receiver(const char *host, unsigned port, char *err, size_t errlen)
{
	char spec[300];
	snprintf(spec, sizeof(spec), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	for (int waited = 0;; waited += 200) {
		int fd = migrate_connect(spec, err, errlen);
		if (fd != -ECONNREFUSED || waited >= CONNECT_WAIT_MS)
			return fd;
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* Hand guest g's running bhyve the connection to the receiver; the result in *res. */
static int send_guest(const struct guest *g, int sock, const char *downtime,
		      struct migrate_result *res, char *err, size_t errlen)
{
	char req[64] = "migrate";
	if (downtime)
		snprintf(req, sizeof(req), "migrate %s", downtime);
	struct ctl_conn c = {.fd = -1};
	int r = guest_ctl_connect(g->name, &c, 5000, err, errlen);
	if (r == 0)
		r = ctl_request_fds(&c, req, &sock, 1, take_result, res, MIGRATE_TIMEOUT_MS, err,
				    errlen);
	if (r == 0) /* bhyve exits once the other side runs the guest: until its socket closes */
		ctl_wait_closed(&c, 30000);
	ctl_disconnect(&c);
	return r;
}

static int migrate_live(struct vm_settings *s, const char *name, const char *host, const char *ds,
			const char *downtime)
{
	struct guest g;
	struct guest_state st;
	char err[1024];
	if (guest_open(s, name, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm migrate: %s\n", err);
		return 1;
	}
	guest_state_get(&g, &st);
	if (st.run != GUEST_RUNNING || st.supervisor <= 0) {
		fprintf(stderr,
			"vm migrate: %s: not running here (vm migrate -c moves a stopped guest)\n",
			name);
		guest_close(&g);
		return 1;
	}
	char target[256];
	size_t conflen = 0;
	char *conf = read_conf(&g, &conflen);
	if (!conf || ssh_hostname(host, target, sizeof(target)) < 0) {
		free(conf);
		guest_close(&g);
		return 1;
	}
	struct migratelink l;
	if (migratelink_open(&l, host, false, ds, g.name) < 0) {
		free(conf);
		guest_close(&g);
		return 1;
	}
	guest_log(&g, "live migration to %s requested", host);
	int rc = 1;
	char line[512];
	unsigned port = 0;
	if (migratelink_send_conf(&l, conf, conflen) < 0 ||
	    migratelink_expect(&l, "listen", line, sizeof(line), LISTEN_WAIT_MS) < 0 ||
	    sscanf(line, "%u", &port) != 1 || port == 0 || port > 65535) {
		fprintf(stderr, "vm migrate: %s: %s did not get ready to receive it%s%s\n", name,
			host, l.why[0] ? ": " : "", l.why);
		guest_log(&g, "live migration to %s failed: the other side did not get ready (%s)",
			  host, l.why);
		goto out;
	}
	int sock = connect_receiver(target, port, err, sizeof(err));
	if (sock < 0) {
		fprintf(stderr, "vm migrate: %s: %s; the guest runs on here\n", name, err);
		guest_log(&g, "live migration to %s failed: %s", host, err);
		goto out;
	}
	struct migrate_result res = {0};
	int r = send_guest(&g, sock, downtime, &res, err, sizeof(err));
	close(sock);
	if (r < 0) {
		fprintf(stderr, "vm migrate: %s: %s; the guest runs on here\n", name, err);
		guest_log(&g, "live migration to %s failed: %s", host, err);
		goto out;
	}
	/* handed over: the other side runs it (bhyve's "migrate" ends only then) */
	migratelink_say(&l, "done");
	if (migratelink_expect(&l, "running", line, sizeof(line), RUNNING_WAIT_MS) < 0)
		fprintf(stderr, "vm migrate: %s: warning: %s did not confirm%s%s\n", name, host,
			l.why[0] ? ": " : "", l.why);
	guest_log(&g, "migrated live to %s (paused %u ms, %u ms in all)", host, res.pause_ms,
		  res.total_ms);
	printf("Migrated %s to %s (paused %u ms, %u ms in all)\n", name, host, res.pause_ms,
	       res.total_ms);
	rc = 0;
out:
	migratelink_close(&l);
	free(conf);
	guest_close(&g);
	return rc;
}

/* Warn of the disks a cold move leaves behind: those outside the folder. */
static void check_disks(const struct guest *g)
{
	for (int n = 0;; n++) {
		char key[32];
		snprintf(key, sizeof(key), "disk%d_name", n);
		const char *dname = vmconf_get(g->conf, key);
		if (!dname || !*dname)
			return;
		snprintf(key, sizeof(key), "disk%d_dev", n);
		const char *dev = vmconf_get(g->conf, key);
		if (dev && !strcmp(dev, "custom"))
			fprintf(
			    stderr,
			    "vm migrate: %s: warning: disk%d (%s) is not in the guest folder and "
			    "is not copied: the other host must see it at that path\n",
			    g->name, n, dname);
	}
}

static int migrate_cold(struct vm_settings *s, const char *name, const char *host, const char *ds)
{
	struct guest g;
	char err[1024];
	if (guest_open(s, name, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm migrate: %s\n", err);
		return 1;
	}
	int runfd = -1, conffd = -1;
	if (lock_for(&g, "migrate", &runfd, &conffd) < 0) { /* stopped, and kept so */
		guest_close(&g);
		return 1;
	}
	check_disks(&g);
	bool suspended = suspend_state_exists(g.dir);
	struct migratelink l;
	int rc = 1;
	if (migratelink_open(&l, host, true, ds, g.name) == 0) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", g.dir);
		char *slash = strrchr(parent, '/');
		if (slash)
			*slash = '\0';
		char line[256];
		if (migratelink_send_folder(&l, parent, g.name) < 0 ||
		    migratelink_expect(&l, "copied", line, sizeof(line), -1) < 0) {
			fprintf(stderr, "vm migrate: %s: the copy to %s failed%s%s\n", name, host,
				l.why[0] ? ": " : "", l.why);
		} else {
			rc = 0;
		}
		migratelink_close(&l);
	}
	if (rc == 0) {
		if (suspended) /* resumed there, never here as well */
			suspend_state_remove(g.dir);
		guest_log(&g, "copied to %s (vm migrate -c)%s", host,
			  suspended ? "; its suspend state went with it" : "");
		printf("Copied %s to %s%s; this host's copy stays, stopped\n", name, host,
		       suspended ? " (suspended: vm resume continues it there)" : "");
	}
	guest_unlock(conffd);
	runlock_release(g.dir, runfd);
	guest_close(&g);
	return rc;
}

int cmd_migrate(struct vm_settings *s, int argc, char **argv)
{
	const char *o[128];
	int i = vm_opts_parse(argv[0], argc, argv, "cd:t:", USAGE, o);
	if (i < 0)
		return 1;
	if (argc - i != 2) {
		fprintf(stderr, "vm migrate: a guest and a host are needed (" USAGE ")\n");
		return 1;
	}
	const char *ds = o['d'];
	if (ds && !migratelink_word_ok(ds)) {
		fprintf(stderr, "vm migrate: -d %s: not a datastore name\n", ds);
		return 1;
	}
	if (o['t']) {
		char *end;
		long v = strtol(o['t'], &end, 10);
		if (o['c'] || !*o['t'] || *end || v < 1 || v > 3600000) {
			fprintf(stderr, "vm migrate: -t %s: %s\n", o['t'],
				o['c'] ? "a cold move has no downtime target"
				       : "milliseconds, 1-3600000");
			return 1;
		}
	}
	const char *name = argv[i], *host = argv[i + 1];
	bool name_ok = migratelink_word_ok(name);
	if (!name_ok || !migratelink_word_ok(host)) { /* (a word never starts with '-') */
		fprintf(stderr, "vm migrate: '%s' %s\n", name_ok ? host : name,
			name_ok ? "is not a host" : "is not a guest name");
		return 1;
	}
	return o['c'] ? migrate_cold(s, name, host, ds) : migrate_live(s, name, host, ds, o['t']);
}
