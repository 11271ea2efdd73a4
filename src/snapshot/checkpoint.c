/* SPDX-License-Identifier: BSD-2-Clause */
#include "snapshot/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/exitcode.h"
#include "core/log.h"
#include "core/vm.h"
#include "snapshot/kvmstate.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapfile.h"
#include "snapshot/snapreg.h"

#define PAUSE_TIMEOUT_MS 5000  /* vCPUs leave KVM_RUN within microseconds */
#define DRAIN_TIMEOUT_MS 30000 /* block I/O in flight: a slow disk */
#define DRAIN_POLL_MS 1
#define META_MAX (16u << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int checkpoint_init(struct vm *vm, char *err, size_t errlen)
{
	int rc = kvmstate_register(vm);
	if (rc)
		snprintf(err, errlen, "cannot prepare checkpoints (KVM's MSR list): %s",
			 strerror(-rc));
	return rc;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys of a "key=value" line that name host resources, not the guest's machine: the snapshot
 * itself (restore.*), a NIC's backend (vm gives a guest the first free tap, which may be another
 * one after a resume or on another host) and a file's or device's path (a disk image moved, a
 * console's pty). The guest sees none of them. */
static bool host_side_key(const char *line)
{
	size_t klen = strcspn(line, "=");
	const char *dot = memrchr(line, '.', klen);
	const char *last = dot ? dot + 1 : line;
	size_t llen = klen - (size_t)(last - line);
	return strncmp(line, "restore.", 8) == 0 || (llen == 7 && !strncmp(last, "backend", 7)) ||
	       (llen == 4 && !strncmp(last, "path", 4));
}

char *checkpoint_config_text(struct vm *vm)
{
	char *raw = NULL;
	size_t rawlen = 0;
	FILE *f = open_memstream(&raw, &rawlen);
	if (!f)
		return NULL;
	config_dump(vm->cfg, f);
	if (fclose(f) != 0) {
		free(raw);
		return NULL;
	}
	/* sorted: the same options in another order make the same VM */
	size_t n = 0;
	for (char *p = raw; *p; p++)
		n += *p == '\n';
	char **lines = calloc(n + 1, sizeof(*lines));
	char *out = malloc(rawlen + 1);
	if (!lines || !out) {
		free(lines);
		free(out);
		free(raw);
		return NULL;
	}
	size_t k = 0;
	for (char *save = NULL, *l = strtok_r(raw, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!host_side_key(l) && k < n)
			lines[k++] = l;
	qsort(lines, k, sizeof(*lines), cmp_lines);
	size_t at = 0;
	for (size_t i = 0; i < k; i++)
		at += (size_t)sprintf(out + at, "%s\n", lines[i]);
	out[at] = '\0';
	free(lines);
	free(raw);
	return out;
}

static void cpuid_digest(struct vm *vm, char hex[65])
{
	const struct kvm_cpuid2 *c = vm->cpuid;
	snapfile_sha256(c, sizeof(*c) + c->nent * sizeof(c->entries[0]), hex);
}

static const struct snapshot_entry *first_unsupported(struct vm *vm)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (!e->ops)
			return e;
	return NULL;
}

/* ---- checkpoint ---- */

struct checkpoint {
	struct vm *vm;
	int fd[3];
	bool suspend;
	checkpoint_done_fn done;
	void *opaque;
	struct evloop_handle *poll;
	uint64_t t0, paused_at;
	struct checkpoint_result res;
};

static struct checkpoint *running; /* one at a time per process (one VM per bhyve) */

static void for_each_pause(struct vm *vm)
{
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops->pause)
			e->ops->pause(e->opaque);
}

static void for_each_resume(struct vm *vm)
{
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops && e->ops->resume)
			e->ops->resume(e->opaque);
}

static const struct snapshot_entry *first_busy(struct vm *vm)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops->drained && !e->ops->drained(e->opaque))
			return e;
	return NULL;
}

static int write_file(int fd, const void *data, size_t len, const char *what, char *err,
		      size_t errlen)
{
	const uint8_t *p = data;
	if (ftruncate(fd, 0) < 0)
		goto fail;
	for (size_t at = 0; at < len;) {
		ssize_t w = pwrite(fd, p + at, len - at, (off_t)at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		at += (size_t)w;
	}
	if (fdatasync(fd) == 0)
		return 0;
fail:
	snprintf(err, errlen, "cannot write the %s file: %s", what, strerror(errno ? errno : EIO));
	return -EIO;
}

/* Every section into a .kern image, then RAM, then the .meta that ties them together (written
 * last: a snapshot without its .meta is an unfinished one). */
static int save_all(struct checkpoint *c, char *err, size_t errlen)
{
	struct vm *vm = c->vm;
	uint8_t *kern = NULL;
	size_t klen = 0, kcap = 0;
	int rc = 0;
	for (struct snapshot_entry *e = vm->snapshots; e && rc == 0; e = e->next) {
		struct snap *s = snap_new_save(e->name);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			break;
		}
		e->ops->visit(s, e->opaque);
		rc = snap_finish(s, err, errlen);
		size_t n;
		const void *d = snap_data(s, &n);
		if (rc == 0 && kern_append(&kern, &klen, &kcap, e->name, d, n) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
		snap_free(s);
	}
	struct kern_index idx = {0};
	if (rc == 0)
		rc = kern_parse(kern, klen, &idx, err, errlen); /* the section table for .meta */
	if (rc == 0)
		rc = write_file(c->fd[1], kern, klen, "state", err, errlen);
	if (rc == 0)
		rc = mem_save(&vm->mem, c->fd[0], &c->res.mem_bytes, err, errlen);
	char *config = rc == 0 ? checkpoint_config_text(vm) : NULL;
	if (rc == 0 && !config) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc == 0) {
		struct snap_meta m = {
		    .name = (char *)(vm->name ? vm->name : ""),
		    .memsize = vm->mem.size,
		    .lowmem = vm->mem.lowmem,
		    .highmem = vm->mem.highmem,
		    .ncpus = vm->nvcpus,
		    .config = config,
		    .tsc_khz = kvmstate_tsc_khz(vm),
		    .kern_size = klen,
		    .created = (int64_t)time(NULL),
		    .sections = &idx,
		};
		cpuid_digest(vm, m.cpuid);
		snapfile_sha256(kern, klen, m.kern_sha256);
		char *text = meta_format(&m);
		if (!text) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		} else {
			rc = write_file(c->fd[2], text, strlen(text), "description (.meta)", err,
					errlen);
			free(text);
		}
	}
	c->res.kern_bytes = klen;
	free(config);
	kern_index_free(&idx);
	free(kern);
	return rc;
}

static void finish(struct checkpoint *c, int rc, const char *err)
{
	struct vm *vm = c->vm;
	if (c->poll)
		evloop_del(vm->ev, c->poll);
	c->res.total_ms = (unsigned)(now_ms() - c->t0);
	if (rc == 0 && c->suspend) {
		c->res.pause_ms = c->res.total_ms;
		kb_debug("suspended to the snapshot: the VM exits");
		vm_request_exit(vm, BHYVE_EXIT_SUSPEND);
	} else {
		/* a failed suspend leaves the guest running, as a failed checkpoint does */
		for_each_resume(vm);
		vm_resume_vcpus(vm);
		c->res.pause_ms = (unsigned)(now_ms() - c->paused_at);
	}
	for (int i = 0; i < 3; i++)
		close(c->fd[i]);
	running = NULL;
	c->done(c->opaque, rc, err, &c->res);
	free(c);
}

static void drain_poll(void *opaque)
{
	struct checkpoint *c = opaque;
	const struct snapshot_entry *busy = first_busy(c->vm);
	char err[256] = "";
	if (busy) {
		if (now_ms() - c->paused_at < DRAIN_TIMEOUT_MS)
			return;
		snprintf(err, sizeof(err), "%s did not finish its I/O within %d s; not saved",
			 busy->name, DRAIN_TIMEOUT_MS / 1000);
		finish(c, -ETIMEDOUT, err);
		return;
	}
	int rc = save_all(c, err, sizeof(err));
	finish(c, rc, err);
}

int checkpoint_start(struct vm *vm, const int fds[3], bool suspend, checkpoint_done_fn done,
		     void *opaque, char *err, size_t errlen)
{
	int rc = 0;
	const struct snapshot_entry *no = NULL;
	if (running) {
		snprintf(err, errlen, "a checkpoint is being taken already");
		rc = -EBUSY;
	} else if (vm->bootrom) {
		snprintf(err, errlen, "a VM booted from firmware (-l bootrom) cannot be saved yet");
		rc = -ENOTSUP;
	} else if ((no = first_unsupported(vm))) {
		snprintf(err, errlen, "%s: %s", no->name, no->why);
		rc = -ENOTSUP;
	}
	struct checkpoint *c = rc == 0 ? calloc(1, sizeof(*c)) : NULL;
	if (rc == 0 && !c) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc) {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		return rc;
	}
	*c = (struct checkpoint){.vm = vm, .suspend = suspend, .done = done, .opaque = opaque};
	memcpy(c->fd, fds, sizeof(c->fd));
	c->t0 = now_ms();
	rc = vm_pause_vcpus(vm, PAUSE_TIMEOUT_MS);
	if (rc) {
		snprintf(err, errlen, rc == -EAGAIN ? "the guest is not running"
						    : "the vCPUs did not stop within %d s",
			 PAUSE_TIMEOUT_MS / 1000);
		for (int i = 0; i < 3; i++)
			close(c->fd[i]);
		free(c);
		return rc;
	}
	c->paused_at = now_ms();
	running = c;
	for_each_pause(vm);
	/* completions of I/O in flight arrive on this event loop: poll until all are in */
	c->poll = evloop_add_timer(vm->ev, 0, DRAIN_POLL_MS, drain_poll, c);
	if (!c->poll) {
		for_each_resume(vm);
		vm_resume_vcpus(vm);
		for (int i = 0; i < 3; i++)
			close(c->fd[i]);
		running = NULL;
		free(c);
		snprintf(err, errlen, "cannot start the checkpoint timer");
		return -ENOMEM;
	}
	return 0;
}

/* ---- restore ---- */

static int read_whole(const char *path, size_t max, char **out, size_t *len, char *err,
		      size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s: not a snapshot file (%s)", path,
			 S_ISREG(st.st_mode) ? "too large" : "not a regular file");
		close(fd);
		return -EINVAL;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: cannot read it", path);
		free(buf);
		return -EIO;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* The first line where two configurations differ, for the refusal. */
static void first_difference(const char *a, const char *b, char *out, size_t outlen)
{
	while (*a || *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
		if (la != lb || memcmp(a, b, la) != 0) {
			snprintf(out, outlen, "the snapshot has '%.*s', this VM '%.*s'",
				 (int)(la > 70 ? 70 : la), a, (int)(lb > 70 ? 70 : lb), b);
			return;
		}
		a += la + (a[la] == '\n');
		b += lb + (b[lb] == '\n');
	}
	snprintf(out, outlen, "they differ");
}

static int check_meta(struct vm *vm, const struct snap_meta *m, char *err, size_t errlen)
{
	const char *name = vm->name ? vm->name : "";
	if (strcmp(m->name, name) != 0) {
		snprintf(err, errlen, "the snapshot is of VM '%s', not '%s'", m->name, name);
		return -EINVAL;
	}
	if (m->memsize != vm->mem.size || m->lowmem != vm->mem.lowmem ||
	    m->highmem != vm->mem.highmem || m->ncpus != vm->nvcpus) {
		snprintf(err, errlen,
			 "the snapshot has %llu MiB and %d vCPUs, this VM %llu MiB and %d vCPUs",
			 (unsigned long long)(m->memsize >> 20), m->ncpus,
			 (unsigned long long)(vm->mem.size >> 20), vm->nvcpus);
		return -EINVAL;
	}
	char *config = checkpoint_config_text(vm);
	if (!config) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	if (strcmp(config, m->config) != 0) {
		char diff[200];
		first_difference(m->config, config, diff, sizeof(diff));
		snprintf(err, errlen, "the snapshot was taken with another configuration: %s",
			 diff);
		rc = -EINVAL;
	}
	free(config);
	if (rc)
		return rc;
	char cpuid[65];
	cpuid_digest(vm, cpuid);
	if (strcmp(cpuid, m->cpuid) != 0) {
		snprintf(err, errlen, "the snapshot was taken on a host whose CPU offers other "
				      "features (CPUID differs)");
		return -EINVAL;
	}
	uint32_t khz = kvmstate_tsc_khz(vm);
	/* a TSC more than 250 ppm off is scaled, where the host can (QEMU's and Firecracker's
	 * tolerance) */
	if (m->tsc_khz && khz && (uint64_t)(m->tsc_khz > khz ? m->tsc_khz - khz : khz - m->tsc_khz) *
					 4000 > khz) {
		rc = kvmstate_set_tsc_khz(vm, m->tsc_khz);
		if (rc) {
			snprintf(err, errlen,
				 "the snapshot's TSC ran at %u kHz, this host's at %u kHz, and KVM "
				 "cannot scale it: %s",
				 m->tsc_khz, khz, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int load_sections(struct vm *vm, const struct kern_index *idx, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < idx->count; i++) {
		bool known = false;
		for (struct snapshot_entry *e = vm->snapshots; e && !known; e = e->next)
			known = strcmp(e->name, idx->sec[i].name) == 0;
		if (!known) {
			snprintf(err, errlen, "the snapshot has state for %s, which this VM lacks",
				 idx->sec[i].name);
			return -EINVAL;
		}
	}
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next) {
		if (!e->ops) {
			snprintf(err, errlen, "%s: %s", e->name, e->why);
			return -ENOTSUP;
		}
		const struct kern_section *sec = kern_find(idx, e->name);
		if (!sec) {
			snprintf(err, errlen, "the snapshot has no state for %s", e->name);
			return -EINVAL;
		}
		struct snap *s = snap_new_load(e->name, sec->data, sec->len);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->ops->visit(s, e->opaque);
		int rc = snap_finish(s, err, errlen);
		snap_free(s);
		if (rc)
			return rc;
	}
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next) {
		if (e->ops->restored) {
			int rc = e->ops->restored(e->opaque, err, errlen);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Load the files in dependency order: .meta (is this snapshot for this VM and host?), .kern
 * (is it the one .meta describes?), RAM, then every section. */
static int restore_files(struct vm *vm, const char *file, char *why, size_t whylen)
{
	char path[4096], msg[400] = "";
	char *meta_text = NULL, *kern = NULL;
	size_t meta_len = 0, kern_len = 0;
	struct snap_meta m = {0};
	struct kern_index idx = {0};
	int memfd = -1;
	snprintf(path, sizeof(path), "%s.meta", file);
	int rc = read_whole(path, META_MAX, &meta_text, &meta_len, why, whylen);
	if (rc)
		goto out;
	if ((rc = meta_parse(meta_text, meta_len, &m, msg, sizeof(msg))) < 0 ||
	    (rc = check_meta(vm, &m, msg, sizeof(msg))) < 0) {
		snprintf(why, whylen, "%s: %s", path, msg);
		goto out;
	}
	snprintf(path, sizeof(path), "%s.kern", file);
	rc = read_whole(path, SNAPFILE_KERN_MAX, &kern, &kern_len, why, whylen);
	if (rc)
		goto out;
	char sha[65];
	snapfile_sha256(kern, kern_len, sha);
	if (kern_len != m.kern_size || strcmp(sha, m.kern_sha256) != 0) {
		snprintf(why, whylen, "%s does not belong to %s.meta (another snapshot's, or changed)",
			 path, file);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = kern_parse((uint8_t *)kern, kern_len, &idx, msg, sizeof(msg))) < 0) {
		snprintf(why, whylen, "%s: %s", path, msg);
		goto out;
	}
	memfd = open(file, O_RDONLY | O_CLOEXEC);
	if (memfd < 0) {
		snprintf(why, whylen, "%s: %s", file, strerror(errno));
		rc = -ENOENT;
		goto out;
	}
	if ((rc = mem_load(&vm->mem, memfd, msg, sizeof(msg))) < 0) {
		snprintf(why, whylen, "%s: %s", file, msg);
		goto out;
	}
	if ((rc = load_sections(vm, &idx, msg, sizeof(msg))) < 0)
		snprintf(why, whylen, "%s: %s", path, msg);
out:
	if (memfd >= 0)
		close(memfd);
	kern_index_free(&idx);
	meta_free(&m);
	free(meta_text);
	free(kern);
	return rc;
}

int checkpoint_restore(struct vm *vm, const char *file, char *err, size_t errlen)
{
	if (vm->bootrom) {
		snprintf(err, errlen,
			 "-r: a VM booted from firmware (-l bootrom) cannot be restored yet");
		return -ENOTSUP;
	}
	int rc = restore_files(vm, file, err, errlen);
	if (rc == 0)
		for_each_resume(vm); /* queues look for work, interrupts the guest may have missed */
	return rc;
}
