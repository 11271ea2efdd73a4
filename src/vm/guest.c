/* SPDX-License-Identifier: BSD-2-Clause */
/* Guests on disk: <datastore>/<name>/<name>.conf, found across every datastore. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm/conflock.h"
#include "vm/guest.h"
#include "vm/supervisor.h"
#include "vm/names.h"

#define GUEST_LOG_MAX (1024 * 1024)

/* Fill g's paths for guest name in the datastore at dspath. */
static int guest_paths(struct guest *g, const char *ds, const char *dspath, const char *name)
{
	memset(g, 0, sizeof(*g));
	if (strlen(name) >= sizeof(g->name) || strlen(ds) >= sizeof(g->ds))
		return -ENAMETOOLONG;
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->ds, sizeof(g->ds), "%s", ds);
	if (snprintf(g->dir, sizeof(g->dir), "%s/%s", dspath, name) >= (int)sizeof(g->dir) ||
	    snprintf(g->conf_path, sizeof(g->conf_path), "%s/%s.conf", g->dir, name) >=
		(int)sizeof(g->conf_path))
		return -ENAMETOOLONG;
	return 0;
}

/* Report the skipped lines of a guest's conf once per command, however often it is opened (`vm
 * info a b` checks every name, then opens each again to print it). */
static void report_once(const struct guest *g)
{
	static char **seen;
	static size_t nseen;
	if (!vmconf_warning_count(g->conf))
		return;
	for (size_t i = 0; i < nseen; i++)
		if (!strcmp(seen[i], g->conf_path))
			return;
	char **v = realloc(seen, (nseen + 1) * sizeof(*v));
	if (v) {
		seen = v;
		if ((seen[nseen] = strdup(g->conf_path)))
			nseen++;
	}
	vmconf_report(g->conf, "vm");
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int guest_open(const struct vm_settings *s, const char *name, struct guest *g, char *err,
	       size_t errlen)
{
	memset(g, 0, sizeof(*g));
	if (!guest_name_valid(name)) {
		snprintf(err, errlen,
			 "'%s' is not a valid guest name (letters, digits, '.', '_', '-'; 2 to 231 "
			 "characters, starting and ending with a letter or digit)",
			 name);
		return -EINVAL;
	}
	char **ds = datastore_names(s);
	if (!ds) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int r = -ENOENT;
	for (size_t i = 0; ds[i]; i++) {
		char path[PATH_MAX], e2[256];
		if (datastore_path(s, ds[i], path, sizeof(path), e2, sizeof(e2)) < 0)
			continue;
		if (guest_paths(g, ds[i], path, name) < 0 || !is_file(g->conf_path))
			continue;
		/* the first datastore holding it wins; an unreadable conf is reported as such */
		r = vmconf_load(&g->conf, g->conf_path, err, errlen);
		break;
	}
	free_strv(ds);
	if (r == -ENOENT) {
		char where[PATH_MAX];
		int n = guest_casefold_matches(s, name, where, sizeof(where));
		if (n == 1) {
			/* the one guest spelt differently: open it by its own name */
			const char *base = strrchr(where, '/');
			return guest_open(s, base ? base + 1 : where, g, err, errlen);
		}
		memset(g, 0, sizeof(*g));
		if (n > 1)
			snprintf(err, errlen,
				 "%s: ambiguous: %d guests have this name in other cases (type it "
				 "exactly)",
				 name, n);
		else
			snprintf(err, errlen, "%s: no such guest", name);
		return n > 1 ? -EINVAL : -ENOENT;
	} else if (r < 0) {
		g->conf = NULL;
		r = -EINVAL;
	} else {
		report_once(g);
	}
	return r;
}

int guest_casefold_matches(const struct vm_settings *s, const char *name, char *where, size_t wlen)
{
	char **ds = datastore_names(s);
	int n = 0;
	for (size_t i = 0; ds && ds[i]; i++) {
		char path[PATH_MAX], e2[256];
		if (datastore_path(s, ds[i], path, sizeof(path), e2, sizeof(e2)) < 0)
			continue;
		DIR *d = opendir(path);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			struct guest g;
			if (strcasecmp(e->d_name, name) != 0 || !guest_name_valid(e->d_name) ||
			    guest_paths(&g, ds[i], path, e->d_name) < 0 || !is_file(g.conf_path))
				continue;
			if (n++ == 0)
				snprintf(where, wlen, "%s", g.dir);
		}
		closedir(d);
	}
	free_strv(ds);
	return n;
}

int guest_fill_macs(struct guest *g, char *err, size_t errlen)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t seed = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	int written = 0, lockfd = -1;
	/* a read-modify-write of the conf: under its config lock, on the conf as it is now */
	int r = guest_lock(g, true, &lockfd, err, errlen);
	if (r < 0)
		return r;
	/* the NICs bhyvecmd_build attaches: networkN_type from 0 up to the first gap */
	for (int n = 0; n < 64 && vmconf_getn(g->conf, "network", n, "_type"); n++) {
		const char *mac = vmconf_getn(g->conf, "network", n, "_mac");
		if (mac && *mac)
			continue;
		char key[32], m[18];
		snprintf(key, sizeof(key), "network%d_mac", n);
		mac_generate(g->name, n, seed, m);
		if (vmconf_set(g->conf, key, m) < 0) {
			snprintf(err, errlen, "%s: cannot set %s", g->conf_path, key);
			guest_unlock(lockfd);
			return -ENOMEM;
		}
		written++;
	}
	if (written)
		r = vmconf_save(g->conf, g->conf_path, err, errlen);
	guest_unlock(lockfd);
	return r < 0 ? r : written;
}

void guest_close(struct guest *g)
{
	vmconf_free(g->conf);
	g->conf = NULL;
}

int guest_lock(struct guest *g, bool reload, int *fd, char *err, size_t errlen)
{
	int r = conflock_take(g->dir, fd, err, errlen);
	if (r == 0 && !is_file(g->conf_path))
		r = -ENOENT;
	if (r == -ENOENT) {
		conflock_release(*fd);
		*fd = -1;
		snprintf(err, errlen, "%s: no such guest (renamed or destroyed meanwhile)",
			 g->name);
		return r;
	}
	if (r < 0 || !reload)
		return r;
	struct vmconf *now;
	if ((r = vmconf_load(&now, g->conf_path, err, errlen)) < 0) {
		conflock_release(*fd);
		*fd = -1;
		return r;
	}
	vmconf_free(g->conf);
	g->conf = now;
	return 0;
}

void guest_unlock(int fd)
{
	conflock_release(fd);
}

static int cmp_guest(const void *a, const void *b)
{
	const struct guest *x = a, *y = b;
	int c = strcasecmp(x->name, y->name);
	if (!c)
		c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->ds, y->ds);
}

int guest_list_all(const struct vm_settings *s, struct guest **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char **ds = datastore_names(s);
	if (!ds)
		return -ENOMEM;
	struct guest *v = NULL;
	size_t cnt = 0, cap = 0;
	int r = 0;
	for (size_t i = 0; ds[i] && r == 0; i++) {
		char path[PATH_MAX], e2[256];
		if (datastore_path(s, ds[i], path, sizeof(path), e2, sizeof(e2)) < 0)
			continue;
		DIR *d = opendir(path);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!guest_name_valid(e->d_name))
				continue;
			struct guest g;
			if (guest_paths(&g, ds[i], path, e->d_name) < 0 || !is_file(g.conf_path))
				continue;
			char lerr[512];
			int lr = vmconf_load(&g.conf, g.conf_path, lerr, sizeof(lerr));
			if (lr == 0)
				report_once(&g);
			if (lr < 0) {
				/* still listed, with no settings, so that the user sees it exists
				 */
				fprintf(stderr, "vm: warning: %s\n", lerr);
				g.conf = vmconf_new();
				if (!g.conf) {
					r = -ENOMEM;
					break;
				}
			}
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				struct guest *nv = realloc(v, cap * sizeof(*v));
				if (!nv) {
					vmconf_free(g.conf);
					r = -ENOMEM;
					break;
				}
				v = nv;
			}
			v[cnt++] = g;
		}
		closedir(d);
	}
	free_strv(ds);
	if (r < 0) {
		guest_list_free(v, cnt);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_guest);
	*out = v;
	*n = cnt;
	return 0;
}

void guest_list_free(struct guest *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		guest_close(&v[i]);
	free(v);
}

int guest_file_check(const struct guest *g, const char *leaf, char *err, size_t errlen)
{
	char path[PATH_MAX + 256];
	snprintf(path, sizeof(path), "%s/%s", g->dir, leaf);
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0; /* absent: created safely later (or that open fails on its own) */
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symbolic link: refusing to write through it", path);
		return -ELOOP;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file: refusing to write to it", path);
		return -EINVAL;
	}
	return 0;
}

int guest_file_open(const struct guest *g, const char *leaf, int flags, mode_t mode)
{
	char path[PATH_MAX + 256];
	if (snprintf(path, sizeof(path), "%s/%s", g->dir, leaf) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* O_NONBLOCK: a FIFO put in place of the file fails (ENXIO) instead of blocking */
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode);
	if (fd < 0)
		return errno == ENXIO ? -EINVAL : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int guest_file_replace_bytes(const struct guest *g, const char *leaf, const void *data, size_t len,
			     mode_t mode)
{
	char path[PATH_MAX + 256], tmp[PATH_MAX + 256];
	if (snprintf(path, sizeof(path), "%s/%s", g->dir, leaf) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", g->dir, leaf) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = mkostemp(tmp, O_CLOEXEC); /* a new file: never one somebody put there */
	if (fd < 0)
		return -errno;
	int e = 0;
	size_t off = 0;
	while (off < len && !e) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno != EINTR)
			e = errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (!e && fchmod(fd, mode) < 0)
		e = errno;
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	/* rename replaces whatever has the name, a symlink included, without following it */
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e)
		unlink(tmp);
	return -e;
}

int guest_file_replace(const struct guest *g, const char *leaf, const char *text)
{
	return guest_file_replace_bytes(g, leaf, text, strlen(text), 0644);
}

static int open_log(const struct guest *g)
{
	return guest_file_open(g, GUEST_LOG_FILE, O_WRONLY | O_CREAT | O_APPEND, 0644);
}

void guest_log(const struct guest *g, const char *fmt, ...)
{
	/* never through a symlink or into a FIFO: the supervisor refuses to start on those */
	int fd = open_log(g);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_size >= GUEST_LOG_MAX) {
		char path[PATH_MAX + 16], old[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/" GUEST_LOG_FILE, g->dir);
		snprintf(old, sizeof(old), "%s.0", path);
		close(fd);
		rename(path, old);
		if ((fd = open_log(g)) < 0)
			return;
	}
	char line[2048];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%b %d %H:%M:%S: ", &tm);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	line[n++] = '\n';
	/* one write: lines from the supervisor and commands do not interleave */
	ssize_t w = write(fd, line, n);
	(void)w;
	close(fd);
}

/* The value of "<port>=..." in <guest>/console (see guest.h). */
int guest_console_entry(const struct guest *g, const char *port, char *out, size_t outlen)
{
	char p[PATH_MAX + 16];
	snprintf(p, sizeof(p), "%s/" SUPERVISOR_CONSOLE_FILE, g->dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return -ENOENT;
	char line[PATH_MAX + 32];
	size_t plen = strlen(port);
	int r = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, port, plen) == 0 && line[plen] == '=') {
			snprintf(out, outlen, "%s", line + plen + 1);
			r = 0;
		}
	}
	fclose(f);
	return r;
}
