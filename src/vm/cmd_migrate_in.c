/* SPDX-License-Identifier: BSD-2-Clause */
/* vm _migrate_in [-c] [-d datastore] <name>: the receiving host's half of vm migrate, run by its
 * ssh; stdin and stdout are the link (vm/migratelink.h says what travels on it).
 * Live: the guest's configuration arrives; the guest's folder is made in the datastore (or a
 * stopped guest's of that name is reused, its conf replaced), and its supervisor started with
 * bhyve -R on the first free port from MIGRATE_PORT_FIRST. Then it waits until the guest runs
 * here, or its bhyve gives up, or the sending side gives up before its bhyve has connected:
 * whatever this side made is then taken back.
 * Cold (-c): a tar stream of the guest's folder, unpacked beside the datastore's guests and moved
 * into place once complete. A guest of that name anywhere here is refused. */
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

#include "vm/cmds.h"
#include "vm/guest.h"
#include "vm/migratelink.h"
#include "vm/names.h"
#include "vm/opts.h"
#include "vm/runstate.h"
#include "vm/snapstore.h"
#include "vm/suspendstate.h"
#include "vm/tcpport.h"
#include "vm/vmconf.h"

#define MIGRATE_PORT_FIRST 7400 /* bhyve -R listens on the first free port of 100 from here */
#define MIGRATE_PORT_COUNT 100
#define ABANDON_MS 2000 /* input ended and nobody connected for this long: given up */

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Read exactly len bytes of stdin. */
static int read_in(char *buf, size_t len)
{
	while (len) {
		ssize_t n = read(0, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "conf <bytes>\n" and the configuration: malloc'd, NUL-terminated, or NULL after one line. */
static char *read_conf(const char *name)
{
	char head[32];
	size_t n = 0;
	while (n < sizeof(head) - 1 && read_in(head + n, 1) == 0 && head[n] != '\n')
		n++;
	head[n] = '\0';
	char *end;
	unsigned long len = strncmp(head, "conf ", 5) ? 0 : strtoul(head + 5, &end, 10);
	if (!len || *end || len > MIGRATELINK_CONF_MAX) {
		fprintf(stderr, "vm _migrate_in: %s: no configuration arrived\n", name);
		return NULL;
	}
	char *conf = malloc(len + 1);
	if (!conf || read_in(conf, len) < 0 || memchr(conf, '\0', len)) {
		fprintf(stderr, "vm _migrate_in: %s: the configuration arrived incomplete\n", name);
		free(conf);
		return NULL;
	}
	conf[len] = '\0';
	return conf;
}

/* Whether something listens on TCP port (IPv4 or IPv6), from the kernel's tables: bhyve -R closes
 * its listening socket once the source has connected. */
static bool port_listening(unsigned port)
{
	static const char *const tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	char want[16];
	snprintf(want, sizeof(want), ":%04X", port);
	for (int t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "re");
		char line[512];
		bool found = false;
		while (f && !found && fgets(line, sizeof(line), f)) {
			char local[80], remote[80], state[8];
			if (sscanf(line, "%*s %79s %79s %7s", local, remote, state) != 3)
				continue;
			char *colon = strrchr(local, ':');
			found = colon && !strcmp(colon, want) && !strcmp(state, "0A");
		}
		if (f)
			fclose(f);
		if (found)
			return true;
	}
	return false;
}

/* Whether the guest whose conf is `have` is the one whose conf text arrives: the same uuid. */
static bool same_guest(const struct vmconf *have, const char *arriving)
{
	struct vmconf *c = NULL;
	char err[256];
	if (vmconf_parse(&c, arriving, "conf", err, sizeof(err)) < 0)
		return false;
	const char *a = vmconf_get(have, "uuid"), *b = vmconf_get(c, "uuid");
	bool same = a && b && *a && !strcmp(a, b);
	vmconf_free(c);
	return same;
}

/* The guest's folder, ready to receive: its conf is the one that arrived. *made: the folder is
 * new; *old: the conf it had (to put back), or NULL. */
static int prepare_folder(struct vm_settings *s, const char *name, const char *ds, const char *conf,
			  struct guest *g, bool *made, char **old)
{
	char err[1024];
	*made = false;
	*old = NULL;
	if (guest_open(s, name, g, err, sizeof(err)) == 0) {
		struct guest_state st;
		guest_state_get(g, &st);
		const char *why = st.run == GUEST_OTHER_HOST
				      ? "its folder here is locked by another host (a shared "
					"datastore: each host "
					"needs a folder of its own, the disks may be shared)"
				  : st.run != GUEST_STOPPED	 ? "it runs here (or is busy)"
				  : suspend_state_exists(g->dir) ? "it has a suspend state here"
				  : !same_guest(g->conf, conf)
				      ? "a different guest of that name is here (its uuid is not "
					"the arriving one's)"
				      : NULL;
		if (why) {
			fprintf(stderr, "vm _migrate_in: %s: %s\n", name, why);
			guest_close(g);
			return -1;
		}
		FILE *f = fopen(g->conf_path, "re");
		char *text = NULL;
		size_t cap = 0;
		if (f && getdelim(&text, &cap, '\0', f) >= 0)
			*old = text;
		else
			free(text);
		if (f)
			fclose(f);
		char leaf[300], err2[1024];
		snprintf(leaf, sizeof(leaf), "%s.conf", g->name);
		int r = guest_file_replace(g, leaf, conf);
		struct guest fresh;
		if (r < 0 || guest_open(s, name, &fresh, err2, sizeof(err2)) < 0) {
			fprintf(stderr, "vm _migrate_in: %s: %s\n", name,
				r < 0 ? strerror(-r) : err2);
			if (r == 0)
				guest_file_replace(g, leaf, *old ? *old : "");
			free(*old);
			*old = NULL;
			guest_close(g);
			return -1;
		}
		guest_close(g);
		*g = fresh;
		return 0;
	}
	if (!new_guest_name_ok(s, "_migrate_in", name))
		return -1;
	char dspath[PATH_MAX], dir[PATH_MAX + 256], vg[128], pool[128];
	if (datastore_path(s, ds, dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm _migrate_in: %s\n", err);
		return -1;
	}
	if (datastore_lvm(s, ds, vg, pool) != 0) {
		fprintf(stderr,
			"vm _migrate_in: datastore %s: an LVM pool cannot take a guest that "
			"arrives\n",
			ds);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/%s", dspath, name);
	if (mkdir(dir, 0755) < 0) {
		fprintf(stderr, "vm _migrate_in: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char path[PATH_MAX + 600];
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t len = strlen(conf);
	bool ok = fd >= 0 && write(fd, conf, len) == (ssize_t)len;
	int e = errno;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (!ok || guest_open(s, name, g, err, sizeof(err)) < 0) {
		fprintf(stderr, "vm _migrate_in: %s: %s\n", ok ? name : path,
			ok ? err : strerror(e));
		unlink(path);
		rmdir(dir);
		return -1;
	}
	*made = true;
	return 0;
}

/* Take back what prepare_folder did. */
static void undo_folder(struct guest *g, bool made, const char *old)
{
	char leaf[300];
	snprintf(leaf, sizeof(leaf), "%s.conf", g->name);
	if (made)
		snap_remove_tree(g->dir);
	else if (old)
		guest_file_replace(g, leaf, old);
}

/* Stop the receiving supervisor (its bhyve still waits for a connection). */
static void stop_receiver(const struct guest *g)
{
	struct guest_state st;
	guest_state_get(g, &st);
	if (st.run == GUEST_RUNNING && st.supervisor > 0)
		kill(st.supervisor, SIGTERM);
	for (int i = 0; i < 150; i++) {
		guest_state_get(g, &st);
		if (st.run == GUEST_STOPPED)
			return;
		sleep_ms(100);
	}
}

static int receive_live(struct vm_settings *s, const char *name, const char *ds)
{
	char *conf = read_conf(name);
	if (!conf)
		return 1;
	struct guest g;
	bool made;
	char *old;
	if (prepare_folder(s, name, ds, conf, &g, &made, &old) < 0) {
		free(conf);
		return 1;
	}
	free(conf);
	unsigned port = tcp_first_free_port("0.0.0.0", MIGRATE_PORT_FIRST, MIGRATE_PORT_COUNT);
	char listen[16];
	snprintf(listen, sizeof(listen), "%u", port);
	if (!port || start_migration_receiver(s, &g, listen) < 0) {
		if (!port)
			fprintf(stderr, "vm _migrate_in: %s: no free TCP port in %d-%d\n", name,
				MIGRATE_PORT_FIRST, MIGRATE_PORT_FIRST + MIGRATE_PORT_COUNT - 1);
		undo_folder(&g, made, old);
		free(old);
		guest_close(&g);
		return 1;
	}
	printf(MIGRATELINK_TAG " listen %u\n", port);
	fflush(stdout);

	/* until the guest runs here, its bhyve gives up, or the sender does before connecting */
	bool done = false, eof = false;
	int rc = 1, abandoned_ms = 0;
	char in[64];
	size_t inlen = 0;
	for (;;) {
		struct pollfd pf = {.fd = 0, .events = POLLIN};
		int r = eof ? 0 : poll(&pf, 1, 250);
		if (eof)
			sleep_ms(250);
		if (r > 0) {
			ssize_t n = read(0, in + inlen, sizeof(in) - 1 - inlen);
			if (n <= 0 && !(n < 0 && errno == EINTR)) {
				eof = true;
			} else if (n > 0) {
				inlen += (size_t)n;
				in[inlen] = '\0';
				done = done || strstr(in, "done\n");
				if (inlen >= sizeof(in) - 1)
					inlen = 0;
			}
		}
		if (guest_ctl_pid(g.name) > 0) {
			guest_log(&g, "migrated in live: the guest runs here");
			printf(MIGRATELINK_TAG " running\n");
			fflush(stdout);
			rc = 0;
			break;
		}
		struct guest_state st;
		guest_state_get(&g, &st);
		if (st.run != GUEST_RUNNING) {
			fprintf(stderr,
				"vm _migrate_in: %s: the live migration did not complete "
				"(see %s/vm-bhyve.log here)\n",
				name, g.dir);
			break;
		}
		/* the sender gave up; a bhyve -R that still listens has no stream to wait for */
		abandoned_ms = eof && !done && port_listening(port) ? abandoned_ms + 250 : 0;
		if (abandoned_ms >= ABANDON_MS) {
			guest_log(&g, "vm migrate gave up before sending: receiver stopped");
			stop_receiver(&g);
			break;
		}
	}
	if (rc != 0) {
		stop_receiver(&g);
		undo_folder(&g, made, old);
	}
	free(old);
	guest_close(&g);
	return rc;
}

static int receive_cold(struct vm_settings *s, const char *name, const char *ds)
{
	char dspath[PATH_MAX], err[1024], vg[128], pool[128];
	if (!new_guest_name_ok(s, "_migrate_in", name))
		return 1;
	if (datastore_path(s, ds, dspath, sizeof(dspath), err, sizeof(err)) < 0) {
		fprintf(stderr, "vm _migrate_in: %s\n", err);
		return 1;
	}
	if (datastore_lvm(s, ds, vg, pool) != 0) {
		fprintf(stderr,
			"vm _migrate_in: datastore %s: an LVM pool cannot take a copied guest\n",
			ds);
		return 1;
	}
	/* unpacked beside the guests (same file system), in place only once complete */
	char tmp[PATH_MAX + 64], got[PATH_MAX + 400], conf[PATH_MAX + 700], dst[PATH_MAX + 300];
	snprintf(tmp, sizeof(tmp), "%s/.migrate-in.XXXXXX", dspath);
	if (!mkdtemp(tmp)) {
		fprintf(stderr, "vm _migrate_in: %s: %s\n", tmp, strerror(errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		char *const av[] = {"tar", "-C", tmp, "-xf", "-", NULL};
		execvp("tar", av);
		fprintf(stderr, "vm _migrate_in: cannot run tar: %s\n", strerror(errno));
		_exit(127);
	}
	int st = 0;
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	snprintf(got, sizeof(got), "%s/%s", tmp, name);
	snprintf(conf, sizeof(conf), "%s/%s.conf", got, name);
	snprintf(dst, sizeof(dst), "%s/%s", dspath, name);
	struct stat sb;
	int rc = 1;
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "vm _migrate_in: %s: the copy arrived incomplete (tar status %d)\n",
			name,
			pid < 0		? -1
			: WIFEXITED(st) ? WEXITSTATUS(st)
					: 128 + WTERMSIG(st));
	else if (lstat(conf, &sb) < 0 || !S_ISREG(sb.st_mode))
		fprintf(stderr, "vm _migrate_in: %s: the copy holds no %s.conf\n", name, name);
	else if (rename(got, dst) < 0)
		fprintf(stderr, "vm _migrate_in: %s: %s\n", dst, strerror(errno));
	else
		rc = 0;
	snap_remove_tree(tmp);
	if (rc == 0) {
		struct guest g;
		if (guest_open(s, name, &g, err, sizeof(err)) == 0) {
			guest_log(&g, "copied here from another host (vm migrate -c)");
			guest_close(&g);
		}
		printf(MIGRATELINK_TAG " copied\n");
		fflush(stdout);
	}
	return rc;
}

int cmd_migrate_in(struct vm_settings *s, int argc, char **argv)
{
	const char *o[128];
	int i = vm_opts_parse(argv[0], argc, argv, "cd:", NULL, o);
	if (i < 0)
		return 1;
	if (argc - i != 1) {
		fprintf(stderr, "vm _migrate_in: one guest name needed\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN); /* the link may close under us: an error, not the end */
	const char *ds = o['d'] ? o['d'] : "default";
	return o['c'] ? receive_cold(s, argv[i], ds) : receive_live(s, argv[i], ds);
}
