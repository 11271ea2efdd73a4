/* SPDX-License-Identifier: BSD-2-Clause */
#include "vm/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ULL * 1024)

/* vm-bhyve's rctl keys: an amount with rctl's suffixes (K, M, G... as vmconf sizes) */
static const struct {
	const char *key;
	size_t off;
} io_keys[] = {
    {"limit_rbps", offsetof(struct cg_limits, rbps)},
    {"limit_wbps", offsetof(struct cg_limits, wbps)},
    {"limit_riops", offsetof(struct cg_limits, riops)},
    {"limit_wiops", offsetof(struct cg_limits, wiops)},
};

uint64_t cg_memory_max(uint64_t ram)
{
	return ram + 256 * MIB + ram / 8;
}

int cg_limits_parse(const struct vmconf *conf, struct cg_limits *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	const char *v = vmconf_get(conf, "limit_pcpu");
	if (v && *v) {
		char *end;
		errno = 0;
		unsigned long p = strtoul(v, &end, 10);
		if (errno || *end || end == v || v[0] == '-' || p < 1 || p > 100000) {
			snprintf(err, errlen,
				 "limit_pcpu=\"%s\": expected a percentage of one CPU (1 to 100000)",
				 v);
			return -EINVAL;
		}
		l->pcpu = (unsigned)p;
	}
	for (size_t i = 0; i < sizeof(io_keys) / sizeof(io_keys[0]); i++) {
		v = vmconf_get(conf, io_keys[i].key);
		if (!v || !*v)
			continue;
		uint64_t n;
		if (vmconf_parse_size(v, &n) < 0) {
			snprintf(err, errlen, "%s=\"%s\": expected an amount per second such as 500, 10M",
				 io_keys[i].key, v);
			return -EINVAL;
		}
		*(uint64_t *)((char *)l + io_keys[i].off) = n;
	}
	v = vmconf_get(conf, "memory");
	uint64_t ram;
	if (v && *v && vmconf_parse_size(v, &ram) == 0) {
		/* a bare number below 1 MiB is MiB to bhyve's -m */
		if (strspn(v, "0123456789") == strlen(v) && ram < MIB)
			ram *= MIB;
		l->memory_max = cg_memory_max(ram);
	}
	return 0;
}

int cg_root(char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -ENOENT;
	char line[4096];
	int rc = -ENOENT;
	while (rc && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPER */
		char *dash = strstr(line, " - ");
		char root[1024], mnt[1024], fstype[64];
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s", fstype) != 1)
			continue;
		if (strcmp(fstype, "cgroup2") != 0 || strcmp(root, "/") != 0 || strchr(mnt, '\\'))
			continue;
		int n = snprintf(out, outlen, "%s", mnt);
		rc = n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
	}
	fclose(f);
	return rc;
}

int cg_guest_path(const char *root, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/" CG_SLICE "/%s", root, name);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return 0;
}

static int write_str(const char *dir, const char *file, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int e = errno;
	close(fd);
	return n < 0 ? -e : 0;
}

int cg_disk_of(const char *path, char *out)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	dev_t d = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
	if (major(d) == 0)
		return -ENODEV; /* tmpfs, overlay, NFS, btrfs subvolumes: no disk of their own */
	char sys[64], buf[32];
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", major(d), minor(d));
	if (access(sys, F_OK) < 0)
		return -ENODEV;
	char part[96];
	snprintf(part, sizeof(part), "%s/partition", sys);
	if (access(part, F_OK) == 0) {
		/* io.max takes whole disks: the partition's parent, one folder up */
		char parent[96];
		snprintf(parent, sizeof(parent), "%s/../dev", sys);
		if (read_small(parent, buf, sizeof(buf)) < 0)
			return -ENODEV;
		buf[strcspn(buf, "\n")] = '\0';
		snprintf(out, 32, "%s", buf);
		return 0;
	}
	snprintf(out, 32, "%u:%u", major(d), minor(d));
	return 0;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n]))
			return true;
	return false;
}

/* "+cpu +io +memory" into dir's cgroup.subtree_control, as far as dir has them; what dir's
 * children get in *got (cgroup.controllers of a child). */
static void enable_controllers(const char *dir, char *got, size_t gotlen)
{
	char p[PATH_MAX], have[512] = "";
	snprintf(p, sizeof(p), "%s/cgroup.controllers", dir);
	read_small(p, have, sizeof(have));
	static const char *const want[] = {"cpu", "io", "memory"};
	got[0] = '\0';
	for (int i = 0; i < 3; i++) {
		char op[16];
		snprintf(op, sizeof(op), "+%s", want[i]);
		if (has_word(have, want[i]) && write_str(dir, "cgroup.subtree_control", op) == 0) {
			size_t l = strlen(got);
			snprintf(got + l, gotlen - l, "%s%s", l ? " " : "", want[i]);
		}
	}
}

static void notef(cg_note_fn note, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notef(cg_note_fn note, void *ctx, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (note)
		note(ctx, line);
}

static void write_io_max(const char *path, const struct cg_limits *l, char *const *disks,
			 cg_note_fn note, void *ctx)
{
	char done[16][32];
	int ndone = 0;
	for (int i = 0; disks && disks[i]; i++) {
		char dev[32];
		if (cg_disk_of(disks[i], dev) < 0) {
			notef(note, ctx,
			      "limit_*bps/iops: %s is on no block device (tmpfs, overlay, a network "
			      "file system): its I/O is not limited",
			      disks[i]);
			continue;
		}
		bool seen = false;
		for (int k = 0; k < ndone; k++)
			seen |= !strcmp(done[k], dev);
		if (seen || ndone == 16)
			continue;
		snprintf(done[ndone++], sizeof(done[0]), "%s", dev);
		char line[256];
		int n = snprintf(line, sizeof(line), "%s", dev);
		static const char *const names[] = {"rbps", "wbps", "riops", "wiops"};
		const uint64_t vals[] = {l->rbps, l->wbps, l->riops, l->wiops};
		for (int k = 0; k < 4; k++)
			if (vals[k])
				n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%" PRIu64,
					      names[k], vals[k]);
		int r = write_str(path, "io.max", line);
		if (r < 0)
			notef(note, ctx, "io.max \"%s\" (for %s): %s: not limited", line, disks[i],
			      strerror(-r));
	}
}

int cg_setup(const char *root, const char *name, const struct cg_limits *l,
	     char *const *disks, cg_note_fn note, void *ctx, char *path, size_t pathlen,
	     char *err, size_t errlen)
{
	char slice[PATH_MAX], sub[512];
	snprintf(slice, sizeof(slice), "%s/" CG_SLICE, root);
	if (cg_guest_path(root, name, path, pathlen) < 0) {
		snprintf(err, errlen, "cgroup: the path for %s is too long", name);
		return -ENAMETOOLONG;
	}
	enable_controllers(root, sub, sizeof(sub));
	if (mkdir(slice, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "cgroup: cannot create %s: %s", slice, strerror(e));
		return -e;
	}
	enable_controllers(slice, sub, sizeof(sub));
	/* afresh: no limit of an earlier run stays behind */
	if (rmdir(path) < 0 && errno != ENOENT) {
		int e = errno;
		snprintf(err, errlen, "cgroup: %s: %s", path,
			 e == EBUSY ? "still holds processes (a bhyve of this guest left running?)"
				    : strerror(e));
		return -e;
	}
	if (mkdir(path, 0755) < 0) {
		int e = errno;
		snprintf(err, errlen, "cgroup: cannot create %s: %s", path, strerror(e));
		return -e;
	}
	int r;
	if (l->pcpu) {
		char q[64];
		snprintf(q, sizeof(q), "%llu 100000", (unsigned long long)l->pcpu * 1000ULL);
		if (!has_word(sub, "cpu"))
			notef(note, ctx, "limit_pcpu=%u: no cpu controller in the cgroup v2 hierarchy: "
					 "not applied", l->pcpu);
		else if ((r = write_str(path, "cpu.max", q)) < 0)
			notef(note, ctx, "limit_pcpu=%u: cpu.max: %s: not applied", l->pcpu,
			      strerror(-r));
	}
	if (l->rbps || l->wbps || l->riops || l->wiops) {
		if (!has_word(sub, "io"))
			notef(note, ctx, "limit_*bps/iops: no io controller in the cgroup v2 "
					 "hierarchy: not applied");
		else
			write_io_max(path, l, disks, note, ctx);
	}
	if (l->memory_max && has_word(sub, "memory")) {
		char m[32];
		snprintf(m, sizeof(m), "%" PRIu64, l->memory_max);
		if ((r = write_str(path, "memory.max", m)) < 0)
			notef(note, ctx, "memory.max %s: %s: not applied", m, strerror(-r));
	}
	return 0;
}

int cg_join(const char *path)
{
	char pid[24];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_str(path, "cgroup.procs", pid);
}

void cg_remove(const char *path)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
	/* the kernel takes the exited bhyve out a moment after its parent has reaped it */
	for (int i = 0; i < 20 && rmdir(path) < 0 && errno == EBUSY; i++)
		nanosleep(&tick, NULL);
}

/* "KEY VALUE" lines: the value of key, or 0. */
static uint64_t keyed(const char *text, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ' ')
			return strtoull(p + n + 1, NULL, 10);
	return 0;
}

int cg_usage_read(const char *path, struct cg_usage *u)
{
	memset(u, 0, sizeof(*u));
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	char p[PATH_MAX], buf[4096];
	snprintf(p, sizeof(p), "%s/cpu.stat", path);
	if (read_small(p, buf, sizeof(buf)) == 0) {
		u->has_cpu = true;
		u->cpu_usec = keyed(buf, "usage_usec");
		u->nr_throttled = keyed(buf, "nr_throttled");
		u->throttled_usec = keyed(buf, "throttled_usec");
	}
	snprintf(p, sizeof(p), "%s/memory.current", path);
	if (read_small(p, buf, sizeof(buf)) == 0) {
		u->has_memory = true;
		u->memory_current = strtoull(buf, NULL, 10);
		snprintf(p, sizeof(p), "%s/memory.max", path);
		if (read_small(p, buf, sizeof(buf)) == 0 && strncmp(buf, "max", 3) != 0)
			u->memory_max = strtoull(buf, NULL, 10);
	}
	snprintf(p, sizeof(p), "%s/io.stat", path);
	if (read_small(p, buf, sizeof(buf)) == 0) {
		u->has_io = true;
		static const char *const keys[] = {"rbytes=", "wbytes=", "rios=", "wios="};
		uint64_t *dst[] = {&u->rbytes, &u->wbytes, &u->rios, &u->wios};
		for (int k = 0; k < 4; k++)
			for (const char *s = buf; (s = strstr(s, keys[k])); s += strlen(keys[k]))
				*dst[k] += strtoull(s + strlen(keys[k]), NULL, 10);
	}
	return 0;
}
