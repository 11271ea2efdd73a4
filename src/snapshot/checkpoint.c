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
#include "snapshot/vmstate.h"

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
	size_t klen = 0;
	int rc = vmstate_save_kern(vm, &kern, &klen, err, errlen);
	if (rc == 0)
		rc = write_file(c->fd[1], kern, klen, "state", err, errlen);
	if (rc == 0)
		rc = mem_save(&vm->mem, c->fd[0], &c->res.mem_bytes, err, errlen);
	if (rc == 0) {
		char *text = vmstate_meta_text(vm, kern, klen);
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
		vmstate_resume(vm);
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
	const struct snapshot_entry *busy = vmstate_busy(c->vm);
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
	} else if ((no = vmstate_unsupported(vm))) {
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
	vmstate_pause(vm);
	/* completions of I/O in flight arrive on this event loop: poll until all are in */
	c->poll = evloop_add_timer(vm->ev, 0, DRAIN_POLL_MS, drain_poll, c);
	if (!c->poll) {
		vmstate_resume(vm);
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
	    (rc = vmstate_check_meta(vm, &m, msg, sizeof(msg))) < 0) {
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
	if ((rc = vmstate_load_kern(vm, (uint8_t *)kern, kern_len, msg, sizeof(msg))) < 0)
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
		vmstate_resume(vm); /* queues look for work, interrupts the guest may have missed */
	return rc;
}
