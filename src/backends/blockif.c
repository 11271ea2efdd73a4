/* SPDX-License-Identifier: BSD-2-Clause */
/* Block backend: raw image files and host block devices with asynchronous I/O.
 *
 * Every request takes one of BLOCKIF_MAX_INFLIGHT slots. It is executed in steps (a short
 * transfer, a bounce-buffer chunk or more than IOV_MAX segments need several) either on io_uring
 * or on the worker pool. A finished request goes onto the `completed` list and the backend's
 * eventfd fires (io_uring signals it through io_uring_register_eventfd, workers write it); the
 * event-loop handler frees the slot and calls `done`. The io_uring completion queue has a single
 * consumer at a time: whoever holds bc->lock (the event-loop handler or blockif_quiesce). */
#include "backends/blockif.h"
#include "backends/uring_restrict.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "config/config.h"
#include "core/evloop.h"
#include "core/hostpath.h"
#include "core/log.h"
#include "core/threadrole.h"

/* A request whose guest buffers are not aligned for O_DIRECT is copied through an aligned
 * buffer of at most this many bytes at a time (bounded memory whatever the guest asks). */
#define BOUNCE_MAX (256u * 1024)
#define BOUNCE_ALIGN 4096u
#define INLINE_IOVS 8
/* io_uring completes a buffered read or write of cached data inside io_uring_submit(), on the
 * submitting thread (the event loop); steps of this many bytes or more are sent to io_uring's
 * workers instead (IOSQE_ASYNC), so a large request never runs its copy on the loop. */
#define ASYNC_MIN_BYTES (64u * 1024)
#define SECTOR_MIN 512u
#define SECTOR_MAX 65536u

enum blockif_op { OP_READ, OP_WRITE, OP_FLUSH, OP_DISCARD };

struct blockif_req {
	struct blockif *bc;
	enum blockif_op op;
	blockif_done_fn done;
	void *opaque;
	struct iovec *iov; /* segments still to transfer (advanced in place) */
	int iovcnt;
	struct iovec *iov_heap; /* the copy when it did not fit iov_inline */
	struct iovec iov_inline[INLINE_IOVS];
	uint64_t off;	 /* byte offset of the next step */
	uint64_t left;	 /* bytes still to transfer (read/write) or the discard length */
	uint64_t total;	 /* bytes of the whole request */
	uint8_t *bounce; /* aligned copy buffer (O_DIRECT with unaligned iovecs) */
	size_t bounce_cap;
	struct iovec bounce_iov; /* the bounce step in flight */
	int result;
	unsigned retries;	  /* consecutive EINTR/EAGAIN steps */
	struct blockif_req *next; /* free, pending or completed list */
};

struct blockif {
	int fd;
	int efd; /* completions ready */
	struct evloop *ev;
	struct evloop_handle *evh;
	uint64_t size;
	unsigned sectsz, psectsz;
	unsigned dio_align; /* O_DIRECT buffer alignment, 0 without nocache */
	bool ro, candelete, is_blkdev;

	pthread_mutex_t lock;
	struct blockif_req reqs[BLOCKIF_MAX_INFLIGHT];
	struct blockif_req *free_list;
	unsigned nfree;
	struct blockif_req *completed; /* LIFO; delivered oldest first */

	bool uring_ok;
	struct io_uring ring;
	unsigned uring_busy; /* requests with an SQE or a step in the kernel */
	unsigned plugged;    /* blockif_plug depth: SQEs wait for the outermost unplug */

	/* worker pool: started when io_uring is unavailable or for BLKDISCARD */
	pthread_t workers[BLOCKIF_WORKERS];
	int nworkers;
	bool stopping;
	pthread_cond_t work_cv, idle_cv;
	struct blockif_req *pending_head, *pending_tail;
	unsigned pool_busy; /* queued or executing in a worker */
};

/* ---- options ---- */

static bool sector_size_ok(unsigned long v)
{
	return v >= SECTOR_MIN && v <= SECTOR_MAX && (v & (v - 1)) == 0;
}

static int parse_sector_number(const char *s, char **end, unsigned *out)
{
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, end, 10);
	if (errno || !sector_size_ok(v))
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int blockif_parse_sectorsize(const char *s, unsigned *logical, unsigned *physical)
{
	char *end;
	unsigned l, p;
	if (!s || parse_sector_number(s, &end, &l) < 0)
		return -EINVAL;
	if (*end == '/') {
		if (parse_sector_number(end + 1, &end, &p) < 0)
			return -EINVAL;
	} else {
		p = l;
	}
	if (*end != '\0' || p < l)
		return -EINVAL;
	*logical = l;
	*physical = p;
	return 0;
}

static int opt_bool(struct cfgnode *devnode, const char *key, bool *out, char *err, size_t errlen)
{
	if (config_get_bool(devnode, key, false, out) < 0) {
		snprintf(err, errlen, "%s: '%s' is not a boolean", key, config_get(devnode, key));
		return -EINVAL;
	}
	return 0;
}

int blockif_opts_from_config(struct cfgnode *devnode, struct blockif_opts *o, char *err,
			     size_t errlen)
{
	memset(o, 0, sizeof(*o));
	const char *path = config_get(devnode, "path");
	if (!path || !*path) {
		snprintf(err, errlen, "no backing file or device (path)");
		return -EINVAL;
	}
	bool direct = false;
	if (opt_bool(devnode, "ro", &o->ro, err, errlen) ||
	    opt_bool(devnode, "nocache", &o->nocache, err, errlen) ||
	    opt_bool(devnode, "sync", &o->sync, err, errlen) ||
	    opt_bool(devnode, "direct", &direct, err, errlen) ||
	    opt_bool(devnode, "nodelete", &o->nodelete, err, errlen))
		return -EINVAL;
	o->sync = o->sync || direct;
	const char *ss = config_get(devnode, "sectorsize");
	if (ss && blockif_parse_sectorsize(ss, &o->sectsz, &o->psectsz) < 0) {
		snprintf(err, errlen,
			 "sectorsize=%s: expected logical[/physical], powers of two from 512 to "
			 "65536 with physical >= logical",
			 ss);
		return -EINVAL;
	}
	o->path = strdup(path);
	if (!o->path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void blockif_opts_free(struct blockif_opts *o)
{
	free(o->path);
	o->path = NULL;
}

/* ---- iovec helpers ---- */

static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (n > 0 && *cnt > 0) {
		if (n < (*iov)->iov_len) {
			(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
			(*iov)->iov_len -= n;
			return;
		}
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	/* drop empty segments so a step never starts with one */
	while (*cnt > 0 && (*iov)->iov_len == 0) {
		(*iov)++;
		(*cnt)--;
	}
}

static void iov_to_buf(const struct iovec *iov, int cnt, uint8_t *buf, size_t n)
{
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t c = iov[i].iov_len < n ? iov[i].iov_len : n;
		memcpy(buf, iov[i].iov_base, c);
		buf += c;
		n -= c;
	}
}

static void buf_to_iov(const struct iovec *iov, int cnt, const uint8_t *buf, size_t n)
{
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t c = iov[i].iov_len < n ? iov[i].iov_len : n;
		memcpy(iov[i].iov_base, buf, c);
		buf += c;
		n -= c;
	}
}

/* ---- request steps (shared by both engines) ---- */

/* The segments of the next read/write step. Copies the data into the bounce buffer first for a
 * bounced write. */
static void step_iov(struct blockif_req *r, const struct iovec **iov, int *cnt)
{
	if (r->bounce) {
		size_t n = r->left < r->bounce_cap ? (size_t)r->left : r->bounce_cap;
		if (r->op == OP_WRITE)
			iov_to_buf(r->iov, r->iovcnt, r->bounce, n);
		r->bounce_iov.iov_base = r->bounce;
		r->bounce_iov.iov_len = n;
		*iov = &r->bounce_iov;
		*cnt = 1;
	} else {
		*iov = r->iov;
		*cnt = r->iovcnt < IOV_MAX ? r->iovcnt : IOV_MAX;
	}
}

/* Account for one finished step (`res`: bytes or -errno). true when the request is done and
 * r->result holds its outcome; false when another step must be issued. */
static bool step_done(struct blockif_req *r, long long res)
{
	if ((res == -EINTR || res == -EAGAIN) && ++r->retries < 1000)
		return false; /* nothing happened: issue the same step again */
	r->retries = 0;
	if (res < 0) {
		r->result = (int)res;
		return true;
	}
	if (r->op == OP_FLUSH || r->op == OP_DISCARD) {
		r->result = 0;
		return true;
	}
	if (res == 0 || (uint64_t)res > r->left) {
		r->result = -EIO; /* past the end of a file that shrank, or a confused kernel */
		return true;
	}
	if (r->bounce && r->op == OP_READ)
		buf_to_iov(r->iov, r->iovcnt, r->bounce, (size_t)res);
	iov_advance(&r->iov, &r->iovcnt, (size_t)res);
	r->off += (uint64_t)res;
	r->left -= (uint64_t)res;
	if (r->left == 0) {
		r->result = (int)r->total;
		return true;
	}
	return false;
}

/* Execute one step synchronously (worker threads). */
static long long step_sync(struct blockif *bc, struct blockif_req *r)
{
	const struct iovec *iov;
	int cnt;
	ssize_t n;
	switch (r->op) {
	case OP_READ:
		step_iov(r, &iov, &cnt);
		n = preadv(bc->fd, iov, cnt, (off_t)r->off);
		break;
	case OP_WRITE:
		step_iov(r, &iov, &cnt);
		n = pwritev(bc->fd, iov, cnt, (off_t)r->off);
		break;
	case OP_FLUSH:
		n = fdatasync(bc->fd);
		break;
	case OP_DISCARD:
		if (bc->is_blkdev) {
			uint64_t range[2] = {r->off, r->left};
			n = ioctl(bc->fd, BLKDISCARD, range);
		} else {
			n = fallocate(bc->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)r->off, (off_t)r->left);
		}
		break;
	default:
		return -EINVAL;
	}
	return n < 0 ? -errno : n;
}

/* Which engine runs an operation: io_uring has no BLKDISCARD (before URING_CMD discard). */
static bool use_uring(const struct blockif *bc, enum blockif_op op)
{
	return bc->uring_ok && !(op == OP_DISCARD && bc->is_blkdev);
}

/* ---- io_uring engine (bc->lock held) ---- */

static void uring_flush_sq(struct blockif *bc)
{
	int n;
	do
		n = io_uring_submit(&bc->ring);
	while (n == -EINTR);
	/* Any other failure leaves the SQEs queued; the next submit or quiesce retries them. */
	if (n < 0)
		kb_log("blockif: io_uring_submit: %s", strerror(-n));
}

/* Queue the next step of r. false when no SQE is available (cannot happen while every request
 * has at most one SQE and the ring has BLOCKIF_MAX_INFLIGHT entries; handled anyway). */
static bool uring_queue_step(struct blockif *bc, struct blockif_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&bc->ring);
	if (!sqe) {
		uring_flush_sq(bc);
		sqe = io_uring_get_sqe(&bc->ring);
		if (!sqe)
			return false;
	}
	const struct iovec *iov;
	int cnt;
	switch (r->op) {
	case OP_READ:
		step_iov(r, &iov, &cnt);
		io_uring_prep_readv(sqe, bc->fd, iov, (unsigned)cnt, r->off);
		break;
	case OP_WRITE:
		step_iov(r, &iov, &cnt);
		io_uring_prep_writev(sqe, bc->fd, iov, (unsigned)cnt, r->off);
		break;
	case OP_FLUSH:
		io_uring_prep_fsync(sqe, bc->fd, IORING_FSYNC_DATASYNC);
		break;
	case OP_DISCARD:
		io_uring_prep_fallocate(sqe, bc->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					r->off, r->left);
		break;
	}
	if ((r->op == OP_READ || r->op == OP_WRITE) && r->left >= ASYNC_MIN_BYTES)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, r);
	return true;
}

static void push_completed(struct blockif *bc, struct blockif_req *r)
{
	r->next = bc->completed;
	bc->completed = r;
}

/* Take every CQE: finish requests or issue their next step. Returns how many finished. */
static unsigned uring_harvest(struct blockif *bc)
{
	struct io_uring_cqe *cqe;
	unsigned finished = 0;
	bool queued = false;
	while (io_uring_peek_cqe(&bc->ring, &cqe) == 0) {
		struct blockif_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&bc->ring, cqe);
		if (!r)
			continue;
		if (!step_done(r, res)) {
			if (uring_queue_step(bc, r)) {
				queued = true;
				continue;
			}
			r->result = -EBUSY;
		}
		bc->uring_busy--;
		push_completed(bc, r);
		finished++;
	}
	if (queued)
		uring_flush_sq(bc);
	return finished;
}

static void signal_efd(struct blockif *bc)
{
	uint64_t one = 1;
	ssize_t n = write(bc->efd, &one, sizeof(one));
	(void)n; /* a saturated counter is still readable */
}

/* ---- worker pool ---- */

static void *worker_main(void *opaque)
{
	struct blockif *bc = opaque;
	thread_role_enter(THREAD_ROLE_BLOCK_IO);
	pthread_mutex_lock(&bc->lock);
	for (;;) {
		while (!bc->pending_head && !bc->stopping)
			pthread_cond_wait(&bc->work_cv, &bc->lock);
		if (!bc->pending_head)
			break; /* stopping, and nothing left */
		struct blockif_req *r = bc->pending_head;
		bc->pending_head = r->next;
		if (!bc->pending_head)
			bc->pending_tail = NULL;
		pthread_mutex_unlock(&bc->lock);

		while (!step_done(r, step_sync(bc, r)))
			;

		pthread_mutex_lock(&bc->lock);
		push_completed(bc, r);
		if (--bc->pool_busy == 0)
			pthread_cond_broadcast(&bc->idle_cv);
		signal_efd(bc);
	}
	pthread_mutex_unlock(&bc->lock);
	return NULL;
}

static int start_workers(struct blockif *bc)
{
	for (int i = 0; i < BLOCKIF_WORKERS; i++) {
		int e = pthread_create(&bc->workers[i], NULL, worker_main, bc);
		if (e) {
			if (bc->nworkers > 0)
				return 0; /* fewer workers still work */
			return -e;
		}
		bc->nworkers++;
	}
	return 0;
}

static void stop_workers(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	bc->stopping = true;
	pthread_cond_broadcast(&bc->work_cv);
	pthread_mutex_unlock(&bc->lock);
	for (int i = 0; i < bc->nworkers; i++)
		pthread_join(bc->workers[i], NULL);
	bc->nworkers = 0;
}

/* ---- completion delivery (event-loop thread) ---- */

static void release_req(struct blockif *bc, struct blockif_req *r)
{
	free(r->iov_heap);
	free(r->bounce);
	r->iov_heap = NULL;
	r->bounce = NULL;
	r->next = bc->free_list;
	bc->free_list = r;
	bc->nfree++;
}

static void on_completion(int fd, uint32_t events, void *opaque)
{
	struct blockif *bc = opaque;
	uint64_t v;
	ssize_t n = read(fd, &v, sizeof(v));
	(void)n; /* drained or already zero: the lists below are the truth */

	pthread_mutex_lock(&bc->lock);
	if (bc->uring_ok)
		uring_harvest(bc);
	struct blockif_req *list = bc->completed, *fifo = NULL;
	bc->completed = NULL;
	pthread_mutex_unlock(&bc->lock);

	while (list) { /* reverse: oldest completion first */
		struct blockif_req *next = list->next;
		list->next = fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct blockif_req *r = fifo;
		fifo = r->next;
		blockif_done_fn done = r->done;
		void *arg = r->opaque;
		int result = r->result;
		/* free the slot first so that `done` can submit the next request */
		pthread_mutex_lock(&bc->lock);
		release_req(bc, r);
		pthread_mutex_unlock(&bc->lock);
		done(arg, result);
	}
}

/* ---- submission ---- */

static bool iov_aligned(const struct iovec *iov, int cnt, unsigned align)
{
	for (int i = 0; i < cnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	return true;
}

static int submit(struct blockif *bc, enum blockif_op op, const struct iovec *iov, int iovcnt,
		  uint64_t off, uint64_t len, blockif_done_fn done, void *opaque)
{
	if (!done || iovcnt < 0 || (iovcnt > 0 && !iov))
		return -EINVAL;
	if ((op == OP_WRITE || op == OP_DISCARD) && bc->ro)
		return -EROFS;
	if (op == OP_DISCARD && !bc->candelete)
		return -EOPNOTSUPP;
	if (op == OP_READ || op == OP_WRITE) {
		len = 0;
		for (int i = 0; i < iovcnt; i++) {
			if (iov[i].iov_len > INT_MAX - len)
				return -EINVAL;
			len += iov[i].iov_len;
		}
	}
	if (off > INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EINVAL;

	pthread_mutex_lock(&bc->lock);
	struct blockif_req *r = bc->free_list;
	if (r) {
		bc->free_list = r->next;
		bc->nfree--;
	}
	pthread_mutex_unlock(&bc->lock);
	if (!r)
		return -EAGAIN;

	r->op = op;
	r->done = done;
	r->opaque = opaque;
	r->off = off;
	r->left = r->total = len;
	r->result = 0;
	r->retries = 0;
	r->iov = r->iov_inline;
	r->iovcnt = 0;
	if (op == OP_READ || op == OP_WRITE) {
		if (iovcnt > INLINE_IOVS) {
			r->iov_heap = malloc(sizeof(*iov) * (size_t)iovcnt);
			if (!r->iov_heap)
				goto nomem;
			r->iov = r->iov_heap;
		}
		if (iovcnt > 0)
			memcpy(r->iov, iov, sizeof(*iov) * (size_t)iovcnt);
		r->iovcnt = iovcnt;
		iov_advance(&r->iov, &r->iovcnt, 0); /* skip leading empty segments */
		if (bc->dio_align && len > 0 && !iov_aligned(r->iov, r->iovcnt, bc->dio_align)) {
			size_t cap = len < BOUNCE_MAX ? (size_t)len : BOUNCE_MAX;
			size_t a = bc->dio_align > BOUNCE_ALIGN ? bc->dio_align : BOUNCE_ALIGN;
			cap = (cap + a - 1) & ~(a - 1);
			if (posix_memalign((void **)&r->bounce, a, cap))
				goto nomem;
			r->bounce_cap = cap;
		}
	}

	int e;
	pthread_mutex_lock(&bc->lock);
	if ((op == OP_READ || op == OP_WRITE || op == OP_DISCARD) && len == 0) {
		r->result = 0; /* nothing to do; still completed asynchronously */
		push_completed(bc, r);
		signal_efd(bc);
	} else if (use_uring(bc, op)) {
		if (uring_queue_step(bc, r)) {
			bc->uring_busy++;
			if (!bc->plugged)
				uring_flush_sq(bc);
		} else {
			r->result = -EBUSY;
			push_completed(bc, r);
			signal_efd(bc);
		}
	} else if (bc->nworkers == 0 && (e = start_workers(bc)) < 0) {
		kb_log("blockif: cannot start I/O threads: %s", strerror(-e));
		r->result = -EIO;
		push_completed(bc, r);
		signal_efd(bc);
	} else {
		r->next = NULL;
		if (bc->pending_tail)
			bc->pending_tail->next = r;
		else
			bc->pending_head = r;
		bc->pending_tail = r;
		bc->pool_busy++;
		pthread_cond_signal(&bc->work_cv);
	}
	pthread_mutex_unlock(&bc->lock);
	return 0;

nomem:
	pthread_mutex_lock(&bc->lock);
	release_req(bc, r);
	pthread_mutex_unlock(&bc->lock);
	return -ENOMEM;
}

int blockif_read(struct blockif *bc, const struct iovec *iov, int iovcnt, uint64_t off,
		 blockif_done_fn done, void *opaque)
{
	return submit(bc, OP_READ, iov, iovcnt, off, 0, done, opaque);
}

int blockif_write(struct blockif *bc, const struct iovec *iov, int iovcnt, uint64_t off,
		  blockif_done_fn done, void *opaque)
{
	return submit(bc, OP_WRITE, iov, iovcnt, off, 0, done, opaque);
}

int blockif_flush(struct blockif *bc, blockif_done_fn done, void *opaque)
{
	return submit(bc, OP_FLUSH, NULL, 0, 0, 0, done, opaque);
}

int blockif_discard(struct blockif *bc, uint64_t off, uint64_t len, blockif_done_fn done,
		    void *opaque)
{
	return submit(bc, OP_DISCARD, NULL, 0, off, len, done, opaque);
}

void blockif_plug(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	bc->plugged++;
	pthread_mutex_unlock(&bc->lock);
}

void blockif_unplug(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	if (bc->plugged > 0 && --bc->plugged == 0 && bc->uring_ok && io_uring_sq_ready(&bc->ring))
		uring_flush_sq(bc);
	pthread_mutex_unlock(&bc->lock);
}

/* ---- quiesce and close ---- */

void blockif_quiesce(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	bool harvested = false;
	while (bc->uring_busy > 0) {
		if (uring_harvest(bc) > 0) {
			harvested = true;
			continue;
		}
		if (bc->uring_busy == 0)
			break;
		if (io_uring_sq_ready(&bc->ring))
			uring_flush_sq(bc);
		struct io_uring_cqe *cqe;
		int e = io_uring_wait_cqe(&bc->ring, &cqe); /* leaves the CQE for uring_harvest */
		if (e < 0 && e != -EINTR && e != -EAGAIN) {
			kb_log("blockif: waiting for io_uring completions: %s", strerror(-e));
			break;
		}
	}
	while (bc->pool_busy > 0)
		pthread_cond_wait(&bc->idle_cv, &bc->lock);
	/* CQEs taken here already signalled the eventfd; make sure the loop delivers them */
	if (harvested)
		signal_efd(bc);
	pthread_mutex_unlock(&bc->lock);
}

bool blockif_idle(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	if (bc->uring_busy > 0 && uring_harvest(bc) > 0)
		signal_efd(bc); /* make sure the loop delivers what was taken here */
	bool idle = bc->uring_busy == 0 && bc->pool_busy == 0;
	pthread_mutex_unlock(&bc->lock);
	return idle;
}

void blockif_close(struct blockif *bc)
{
	if (!bc)
		return;
	blockif_quiesce(bc);
	stop_workers(bc);
	if (bc->evh)
		evloop_del(bc->ev, bc->evh);
	if (bc->uring_ok)
		io_uring_queue_exit(&bc->ring);
	for (int i = 0; i < BLOCKIF_MAX_INFLIGHT; i++) {
		free(bc->reqs[i].iov_heap);
		free(bc->reqs[i].bounce);
	}
	close(bc->efd);
	close(bc->fd);
	pthread_cond_destroy(&bc->work_cv);
	pthread_cond_destroy(&bc->idle_cv);
	pthread_mutex_destroy(&bc->lock);
	free(bc);
}

/* ---- open ---- */

static bool blkdev_discard_supported(dev_t rdev)
{
	/* a partition has no queue/ of its own: its disk's is one level up */
	for (int up = 0; up < 2; up++) {
		char p[96];
		snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/%squeue/discard_max_bytes",
			 major(rdev), minor(rdev), up ? "../" : "");
		FILE *f = fopen(p, "re");
		if (!f)
			continue;
		unsigned long long v = 0;
		int n = fscanf(f, "%llu", &v);
		fclose(f);
		return n == 1 && v > 0;
	}
	return false;
}

/* Punching a hole past the end of the file changes nothing where holes are supported. */
static bool file_discard_supported(int fd, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX - 2 * BOUNCE_ALIGN)
		return false;
	off_t at = (off_t)((size + BOUNCE_ALIGN - 1) & ~(uint64_t)(BOUNCE_ALIGN - 1));
	return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at, BOUNCE_ALIGN) == 0;
}

/* Buffer (and length) alignment O_DIRECT needs. */
static unsigned dio_alignment(int fd, bool is_blkdev, unsigned dev_sectsz)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align > 0) {
		unsigned a = stx.stx_dio_mem_align;
		if (stx.stx_dio_offset_align > a)
			a = stx.stx_dio_offset_align;
		if ((a & (a - 1)) == 0 && a <= SECTOR_MAX)
			return a;
	}
	return is_blkdev ? dev_sectsz : BOUNCE_ALIGN; /* older kernels: be conservative */
}

static bool uring_start(struct blockif *bc)
{
	/* created disabled, to be limited to the operations below before use */
	int e = io_uring_queue_init(BLOCKIF_MAX_INFLIGHT, &bc->ring, IORING_SETUP_R_DISABLED);
	if (e < 0) {
		kb_debug("blockif: io_uring unavailable (%s): using worker threads", strerror(-e));
		return false;
	}
	static const uint8_t ops[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				      IORING_OP_FALLOCATE};
	struct io_uring_probe *probe = io_uring_get_probe_ring(&bc->ring);
	bool ok = probe != NULL;
	for (size_t i = 0; ok && i < sizeof(ops) / sizeof(ops[0]); i++)
		ok = io_uring_opcode_supported(probe, ops[i]);
	if (probe)
		io_uring_free_probe(probe);
	if (ok && (e = io_uring_register_eventfd(&bc->ring, bc->efd)) < 0)
		ok = false;
	if (ok && (e = uring_restrict_and_enable(&bc->ring, ops, sizeof(ops), IOSQE_ASYNC)) < 0) {
		kb_debug("blockif: cannot restrict the io_uring ring (%s)", strerror(-e));
		ok = false;
	}
	if (!ok) {
		kb_debug("blockif: io_uring lacks what the backend needs: using worker threads");
		io_uring_queue_exit(&bc->ring);
	}
	return ok;
}

static int open_fail(struct blockif *bc, int e)
{
	if (bc->fd >= 0)
		close(bc->fd);
	if (bc->efd >= 0)
		close(bc->efd);
	pthread_cond_destroy(&bc->work_cv);
	pthread_cond_destroy(&bc->idle_cv);
	pthread_mutex_destroy(&bc->lock);
	free(bc);
	return e;
}

int blockif_open(const struct blockif_opts *o, struct evloop *ev, struct blockif **out, char *err,
		 size_t errlen)
{
	*out = NULL;
	if (!o->path || !*o->path) {
		snprintf(err, errlen, "no backing file or device (path)");
		return -EINVAL;
	}
	if ((o->sectsz && !sector_size_ok(o->sectsz)) ||
	    (o->psectsz && (!sector_size_ok(o->psectsz) || o->psectsz < o->sectsz))) {
		snprintf(err, errlen, "%s: invalid sector sizes %u/%u", o->path, o->sectsz,
			 o->psectsz);
		return -EINVAL;
	}
	struct blockif *bc = calloc(1, sizeof(*bc));
	if (!bc) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	bc->fd = bc->efd = -1;
	bc->ev = ev;
	pthread_mutex_init(&bc->lock, NULL);
	pthread_cond_init(&bc->work_cv, NULL);
	pthread_cond_init(&bc->idle_cv, NULL);
	for (int i = BLOCKIF_MAX_INFLIGHT - 1; i >= 0; i--) {
		bc->reqs[i].bc = bc;
		bc->reqs[i].next = bc->free_list;
		bc->free_list = &bc->reqs[i];
	}
	bc->nfree = BLOCKIF_MAX_INFLIGHT;

	int extra = O_CLOEXEC | (o->nocache ? O_DIRECT : 0) | (o->sync ? O_DSYNC : 0);
	bc->ro = o->ro;
	bc->fd = open(o->path, (bc->ro ? O_RDONLY : O_RDWR) | extra);
	if (bc->fd < 0 && !bc->ro && (errno == EROFS || errno == EACCES || errno == EPERM)) {
		bc->fd = open(o->path, O_RDONLY | extra);
		if (bc->fd >= 0) {
			kb_log("blockif: %s is not writable: opened read-only", o->path);
			bc->ro = true;
		}
	}
	if (bc->fd < 0) {
		int e = errno;
		if (e == EINVAL && o->nocache)
			snprintf(err, errlen,
				 "%s: the file system does not support O_DIRECT (nocache)",
				 o->path);
		else
			snprintf(err, errlen, "%s: %s", o->path, strerror(e));
		return open_fail(bc, -e);
	}
	if (hostpath_note(o->path, HOSTPATH_READ | (bc->ro ? 0 : HOSTPATH_WRITE)) < 0) {
		snprintf(err, errlen, "out of memory");
		return open_fail(bc, -ENOMEM);
	}
	struct stat st;
	if (fstat(bc->fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: fstat: %s", o->path, strerror(e));
		return open_fail(bc, -e);
	}
	unsigned dev_sectsz = SECTOR_MIN, dev_psectsz = SECTOR_MIN;
	if (S_ISBLK(st.st_mode)) {
		bc->is_blkdev = true;
		int lss = 0;
		unsigned int pss = 0;
		if (ioctl(bc->fd, BLKGETSIZE64, &bc->size) < 0 ||
		    ioctl(bc->fd, BLKSSZGET, &lss) < 0 || ioctl(bc->fd, BLKPBSZGET, &pss) < 0) {
			int e = errno;
			snprintf(err, errlen, "%s: cannot read the device geometry: %s", o->path,
				 strerror(e));
			return open_fail(bc, -e);
		}
		if (sector_size_ok((unsigned)lss))
			dev_sectsz = (unsigned)lss;
		dev_psectsz = sector_size_ok(pss) && pss >= dev_sectsz ? pss : dev_sectsz;
	} else if (S_ISREG(st.st_mode)) {
		bc->size = (uint64_t)st.st_size;
		/* the file system block is the physical sector the guest sees */
		unsigned long bs = (unsigned long)st.st_blksize;
		dev_psectsz = sector_size_ok(bs) ? (unsigned)bs : SECTOR_MIN;
	} else {
		snprintf(err, errlen, "%s: not a regular file or block device", o->path);
		return open_fail(bc, -EINVAL);
	}
	if (o->sectsz) {
		if (bc->is_blkdev && o->sectsz % dev_sectsz) {
			snprintf(err, errlen,
				 "%s: sector size %u is not a multiple of the device's %u bytes",
				 o->path, o->sectsz, dev_sectsz);
			return open_fail(bc, -EINVAL);
		}
		bc->sectsz = o->sectsz;
		bc->psectsz = o->psectsz ? o->psectsz : o->sectsz;
	} else {
		bc->sectsz = dev_sectsz;
		bc->psectsz = dev_psectsz;
	}
	if (o->nocache)
		bc->dio_align = dio_alignment(bc->fd, bc->is_blkdev, dev_sectsz);
	if (!bc->ro && !o->nodelete)
		bc->candelete = bc->is_blkdev ? blkdev_discard_supported(st.st_rdev)
					      : file_discard_supported(bc->fd, bc->size);

	bc->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (bc->efd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: eventfd: %s", o->path, strerror(e));
		return open_fail(bc, -e);
	}
	bc->uring_ok = !o->no_uring && uring_start(bc);
	/* the worker pool (no io_uring, or discards on a block device) starts with the first
	 * request it gets: threads are created after the sandbox is entered, and inherit it */
	bc->evh = evloop_add_fd(ev, bc->efd, EPOLLIN, on_completion, bc);
	if (!bc->evh) {
		snprintf(err, errlen, "%s: cannot watch the completion eventfd", o->path);
		stop_workers(bc);
		if (bc->uring_ok)
			io_uring_queue_exit(&bc->ring);
		return open_fail(bc, -ENOMEM);
	}
	kb_debug("blockif: %s: %llu bytes, sectors %u/%u%s%s%s, %s", o->path,
		 (unsigned long long)bc->size, bc->sectsz, bc->psectsz, bc->ro ? ", ro" : "",
		 bc->candelete ? ", discard" : "", o->nocache ? ", O_DIRECT" : "",
		 blockif_engine(bc));
	*out = bc;
	return 0;
}

/* ---- properties ---- */

uint64_t blockif_size(const struct blockif *bc)
{
	return bc->size;
}
unsigned blockif_sectsz(const struct blockif *bc)
{
	return bc->sectsz;
}
unsigned blockif_psectsz(const struct blockif *bc)
{
	return bc->psectsz;
}
bool blockif_is_ro(const struct blockif *bc)
{
	return bc->ro;
}
bool blockif_candelete(const struct blockif *bc)
{
	return bc->candelete;
}
const char *blockif_engine(const struct blockif *bc)
{
	return bc->uring_ok ? "io_uring" : "threads";
}

unsigned blockif_free_slots(struct blockif *bc)
{
	pthread_mutex_lock(&bc->lock);
	unsigned n = bc->nfree;
	pthread_mutex_unlock(&bc->lock);
	return n;
}
