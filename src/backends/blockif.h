/* SPDX-License-Identifier: BSD-2-Clause */
/* The block backend shared by the disk models (virtio-blk, later AHCI and NVMe): a raw image
 * file or a host block device, opened from bhyve's block options, with asynchronous
 * read/write/flush/discard. The I/O runs on io_uring when the kernel allows it, else on a small
 * pool of worker threads; completions are always delivered on the VM's event-loop thread.
 *
 * Request contract:
 *  - blockif_read/write/flush/discard start a request and return 0, or a negative errno without
 *    starting anything: -EAGAIN when BLOCKIF_MAX_INFLIGHT requests are already outstanding
 *    (retry from a `done` callback: each completion frees one slot just before its callback
 *    runs, so a submission from inside `done` cannot fail with -EAGAIN), -EROFS for a write or
 *    discard on a read-only backend, -EOPNOTSUPP for discard when unsupported, -EINVAL for a
 *    request over INT_MAX bytes, -ENOMEM.
 *  - `done(opaque, result)` is called exactly once per started request, later, on the event-loop
 *    thread, never from inside the submitting call. result: bytes transferred (read/write; the
 *    whole request: short transfers are continued internally) or 0 (flush/discard), or -errno.
 *  - The iovec array is copied at submission; the memory it points to must stay valid until
 *    `done` runs (or blockif_quiesce/blockif_close returned).
 *  - Submission is thread-safe. Requests may complete in any order.
 */
#ifndef KB_BLOCKIF_H
#define KB_BLOCKIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct evloop;
struct cfgnode;
struct blockif;

/* Requests outstanding at once per backend (queue depth). */
#define BLOCKIF_MAX_INFLIGHT 128
/* Worker threads of the fallback engine. */
#define BLOCKIF_WORKERS 4

struct blockif_opts {
	char *path;	  /* malloc'd */
	bool ro;	  /* open read-only; writes and discards fail with -EROFS */
	bool nocache;	  /* O_DIRECT */
	bool sync;	  /* O_DSYNC ("sync" or "direct") */
	bool nodelete;	  /* never discard */
	unsigned sectsz;  /* logical sector override (0: from the device, else 512) */
	unsigned psectsz; /* physical sector override (0: from the device, else sectsz) */
	bool no_uring;	  /* use the worker threads even where io_uring works (tests) */
};

/* "logical[/physical]": powers of two in 512..65536, physical >= logical. 0 or -EINVAL. */
int blockif_parse_sectorsize(const char *s, unsigned *logical, unsigned *physical);

/* Read path, ro, nocache, direct, sync, nodelete and sectorsize from a device node (bhyve's
 * block option names; the device model reads its own keys such as ser). 0, or -EINVAL with a
 * message naming the option in err. Free with blockif_opts_free. */
int blockif_opts_from_config(struct cfgnode *devnode, struct blockif_opts *o, char *err,
			     size_t errlen);
void blockif_opts_free(struct blockif_opts *o);

typedef void (*blockif_done_fn)(void *opaque, int result);

/* Open the backend and register its completion eventfd with `ev`. A writable open that the host
 * refuses (read-only file or medium) falls back to read-only, as bhyve does. 0 or -errno with a
 * one-line message in err. */
int blockif_open(const struct blockif_opts *o, struct evloop *ev, struct blockif **out, char *err,
		 size_t errlen);
/* Wait for every request the kernel or a worker still owns, then free everything. Callbacks of
 * requests that have not been delivered yet are dropped (never called). Call it with the event
 * loop stopped or from the event-loop thread. NULL is a no-op. */
void blockif_close(struct blockif *bc);
/* Wait until no request is being executed (the kernel or a worker no longer touches any buffer).
 * The `done` callbacks still arrive later on the event loop. Any thread, even while holding a
 * lock that the `done` callbacks take. */
void blockif_quiesce(struct blockif *bc);

/* Whether no request is being executed now (what blockif_quiesce waits for), without waiting:
 * completions already in are taken (their `done` callbacks still arrive on the event loop).
 * Any thread, even while holding a lock that the `done` callbacks take. */
bool blockif_idle(struct blockif *bc);

uint64_t blockif_size(const struct blockif *bc);    /* bytes */
unsigned blockif_sectsz(const struct blockif *bc);  /* logical sector, bytes */
unsigned blockif_psectsz(const struct blockif *bc); /* physical sector, bytes */
bool blockif_is_ro(const struct blockif *bc);
bool blockif_candelete(const struct blockif *bc);
/* "io_uring" or "threads": the engine this backend runs on. */
const char *blockif_engine(const struct blockif *bc);
/* Free request slots right now (0..BLOCKIF_MAX_INFLIGHT). */
unsigned blockif_free_slots(struct blockif *bc);

int blockif_read(struct blockif *bc, const struct iovec *iov, int iovcnt, uint64_t off,
		 blockif_done_fn done, void *opaque);
int blockif_write(struct blockif *bc, const struct iovec *iov, int iovcnt, uint64_t off,
		  blockif_done_fn done, void *opaque);
/* Batch submissions: between blockif_plug and blockif_unplug, io_uring requests are queued
 * without entering the kernel; the outermost unplug submits them all with one system call.
 * (The worker pool starts each request at once either way.) Pairs may nest. */
void blockif_plug(struct blockif *bc);
void blockif_unplug(struct blockif *bc);

/* fdatasync */
int blockif_flush(struct blockif *bc, blockif_done_fn done, void *opaque);
/* Deallocate [off, off+len): a hole in a file, BLKDISCARD on a device. Reads of the range may
 * return zeros or the old data afterwards. */
int blockif_discard(struct blockif *bc, uint64_t off, uint64_t len, blockif_done_fn done,
		    void *opaque);

#endif
