/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target for the block backend itself (src/backends/blockif.c): both engines (io_uring
 * and the worker pool) and the O_DIRECT path with its bounce buffer for guest buffers that are
 * not aligned, fed reads and writes of 1-8 segments of any length and alignment, flushes,
 * discards, quiesces and event-loop passes, with up to BLOCKIF_MAX_INFLIGHT requests in flight.
 *
 * The image is an unnamed 256 KiB file (O_TMPFILE) in $FUZZ_BLOCKIF_DIR (default /var/tmp:
 * tmpfs has no O_DIRECT). If O_DIRECT cannot be opened there, inputs that ask for it run without
 * it and the target says "fuzz-note: ..." once; if no image can be made at all, every input is
 * skipped ("fuzz-skip").
 *
 * Checked against a model of the image (per 512-byte sector: its bytes, or unknown after a
 * discard or racing writes): every started request completes exactly once, on the loop thread's
 * pass, with the full byte count; a read whose sectors are known and that raced no write
 * returns exactly the model's bytes, and only into its own buffers; at the end, blockif_close()
 * leaves nothing running. Plus ASan/UBSan and the work bounds of fixture.h (20 s of wall time
 * per input by default here: the disk is real).
 *
 * Input: a setup byte (bit 0 worker pool instead of io_uring, bit 1 O_DIRECT, bit 2 O_DSYNC),
 * then operations (op byte, low 3 bits):
 *   0 write   sector u16, segments u8 (1-8), per segment: gap u8, length u16 (1-8192), fill u8;
 *             the total is rounded up to whole sectors by the last segment
 *   1 read    the same shape (no fill byte)
 *   2 flush
 *   3 discard sector u16, sectors u8
 *   4 loop    one event-loop pass (completions)
 *   5 quiesce
 *   6 drain   passes until nothing is in flight (none while plugged)
 *   7 plug    blockif_plug (op bit 3: unplug) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backends/blockif.h"
#include "core/evloop.h"
#include "fixture.h"

#define SECTOR 512u
#define IMG_SECTORS 512u
#define IMG_SIZE (IMG_SECTORS * SECTOR)
#define SLOT_SIZE (80u * 1024)
#define MAX_OPS 64
#define MAX_SEGS 8

struct req {
	bool busy, write, discard, verify;
	bool raced;    /* a write or discard of an overlapping range was in flight meanwhile */
	int expect;    /* byte count */
	unsigned span; /* bytes of the image it touches */
	uint64_t off;
	struct iovec iov[MAX_SEGS];
	int iovcnt;
};

static struct {
	char path[128];
	bool have_image, have_direct;
	uint8_t *arena; /* BLOCKIF_MAX_INFLIGHT slots of SLOT_SIZE */
	uint8_t model[IMG_SIZE];
	bool known[IMG_SECTORS];
	struct req reqs[BLOCKIF_MAX_INFLIGHT];
	unsigned inflight, started, completed, plugged;
	struct evloop *ev;
} s;

static void setup_image(void)
{
	const char *dir = getenv("FUZZ_BLOCKIF_DIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	/* a file without a name, reopened through /proc: nothing is left behind, even when an
	 * input ends the process */
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		fuzz_skip("cannot create the block image");
		return;
	}
	FUZZ_CHECK(ftruncate(fd, IMG_SIZE) == 0, "ftruncate: %s", strerror(errno));
	snprintf(s.path, sizeof(s.path), "/proc/self/fd/%d", fd); /* kept open for good */
	s.have_image = true;
	fd = open(s.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd >= 0) {
		s.have_direct = true;
		close(fd);
	} else {
		fprintf(stderr, "fuzz-note: no O_DIRECT in %s (set FUZZ_BLOCKIF_DIR)\n", dir);
	}
	s.arena = mmap(NULL, (size_t)BLOCKIF_MAX_INFLIGHT * SLOT_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	FUZZ_CHECK(s.arena != MAP_FAILED, "mmap: %s", strerror(errno));
}

static void done(void *opaque, int result)
{
	struct req *r = opaque;
	FUZZ_CHECK(r->busy, "a completion for a request that is not in flight");
	FUZZ_CHECK(result == r->expect, "%s of %d bytes at %llu completed with %d",
		   r->write    ? "write"
		   : r->iovcnt ? "read"
			       : "flush/discard",
		   r->expect, (unsigned long long)r->off, result);
	unsigned first = (unsigned)(r->off / SECTOR), n = (unsigned)r->expect / SECTOR;
	if (r->discard) {
		/* the range stays unknown: reads may give zeros or the old bytes */
	} else if (r->write) {
		uint64_t at = r->off;
		for (int i = 0; i < r->iovcnt; i++) {
			memcpy(s.model + at, r->iov[i].iov_base, r->iov[i].iov_len);
			at += r->iov[i].iov_len;
		}
		for (unsigned i = first; i < first + n; i++)
			s.known[i] = !r->raced; /* else either racing version may have landed */
	} else if (r->iovcnt && r->verify) {
		uint64_t at = r->off;
		for (int i = 0; i < r->iovcnt; i++) {
			const uint8_t *p = r->iov[i].iov_base;
			for (size_t j = 0; j < r->iov[i].iov_len; j++, at++)
				FUZZ_CHECK(!s.known[at / SECTOR] || p[j] == s.model[at],
					   "read at %llu: byte %llu is %#x, the image has %#x",
					   (unsigned long long)r->off, (unsigned long long)at, p[j],
					   s.model[at]);
		}
	}
	r->busy = false;
	s.inflight--;
	s.completed++;
}

static struct req *free_req(void)
{
	for (int i = 0; i < BLOCKIF_MAX_INFLIGHT; i++)
		if (!s.reqs[i].busy)
			return &s.reqs[i];
	return NULL;
}

/* Segments in the request's own slot of the arena, at the gaps and lengths from the input. */
static void build_iov(struct req *r, bool write, struct fuzz_input *in)
{
	uint8_t *slot = s.arena + (size_t)(r - s.reqs) * SLOT_SIZE, *p = slot;
	unsigned nseg = in_u8(in) % MAX_SEGS + 1;
	size_t total = 0;
	for (unsigned i = 0; i < nseg; i++) {
		p += in_u8(in);
		size_t len = in_u16(in) % 8192 + 1;
		if (i + 1 == nseg)
			len += (SECTOR - (total + len) % SECTOR) % SECTOR;
		uint8_t fill = write ? in_u8(in) : 0;
		for (size_t j = 0; j < len; j++)
			p[j] = write ? (uint8_t)(fill + j * 7) : 0xEE;
		r->iov[i] = (struct iovec){p, len};
		p += len;
		total += len;
	}
	r->iovcnt = (int)nseg;
	r->expect = (int)total;
}

/* Mark what races with the new request r (a write, discard or read of an overlapping range). */
static void overlaps(struct req *r)
{
	if (!r->span)
		r->span = (unsigned)r->expect;
	bool modifies = r->write || r->discard;
	for (int i = 0; i < BLOCKIF_MAX_INFLIGHT; i++) {
		struct req *o = &s.reqs[i];
		if (!o->busy || o == r || !o->span || o->off >= r->off + r->span ||
		    r->off >= o->off + o->span)
			continue;
		bool o_modifies = o->write || o->discard;
		if (modifies) {
			o->raced = true;
			o->verify = false;
		}
		if (o_modifies) {
			r->raced = true;
			r->verify = false;
		}
	}
}

static void start(struct blockif *bc, uint8_t op, struct fuzz_input *in)
{
	struct req *r = free_req();
	if (!r)
		return;
	memset(r, 0, sizeof(*r));
	int rc;
	switch (op & 7) {
	case 0:
	case 1: {
		bool write = (op & 7) == 0;
		unsigned sector = in_u16(in) % IMG_SECTORS;
		build_iov(r, write, in);
		r->off = (uint64_t)sector * SECTOR;
		if (r->off + (uint64_t)r->expect > IMG_SIZE)
			r->off = IMG_SIZE - (uint64_t)r->expect;
		r->write = write;
		r->verify = !write;
		overlaps(r);
		if (write)
			rc = blockif_write(bc, r->iov, r->iovcnt, r->off, done, r);
		else
			rc = blockif_read(bc, r->iov, r->iovcnt, r->off, done, r);
		break;
	}
	case 2:
		rc = blockif_flush(bc, done, r);
		break;
	default: {
		unsigned sector = in_u16(in) % IMG_SECTORS, n = in_u8(in) % 64 + 1;
		if (sector + n > IMG_SECTORS)
			n = IMG_SECTORS - sector;
		r->discard = true;
		r->off = (uint64_t)sector * SECTOR;
		r->span = n * SECTOR;
		overlaps(r);
		for (unsigned i = sector; i < sector + n; i++)
			s.known[i] = false; /* zeros or the old bytes, either is right */
		rc = blockif_discard(bc, (uint64_t)sector * SECTOR, (uint64_t)n * SECTOR, done, r);
		if (rc == -EOPNOTSUPP)
			return;
		break;
	}
	}
	FUZZ_CHECK(rc == 0, "request refused: %s", strerror(-rc));
	r->busy = true;
	s.inflight++;
	s.started++;
}

static void pass(void)
{
	fuzz_evloop_pass(s.ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	if (!once) {
		once = true;
		setup_image();
		/* O_DSYNC writes and fdatasync wait for a real disk, shared with whatever else the
		 * host runs: the bound here is for runaway inputs, not for the disk's latency */
		fuzz_work_default_wall_ms(20000);
	}
	if (!s.have_image)
		return 0;
	fuzz_work_begin();
	struct fuzz_input in = {data, size};
	uint8_t setup = in_u8(&in);
	/* the image starts as zeros each time, and so does the model */
	int fd = open(s.path, O_RDWR | O_TRUNC | O_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && ftruncate(fd, IMG_SIZE) == 0, "reset %s", s.path);
	close(fd);
	memset(s.model, 0, sizeof(s.model));
	for (unsigned i = 0; i < IMG_SECTORS; i++)
		s.known[i] = true;
	memset(s.reqs, 0, sizeof(s.reqs));
	s.inflight = s.started = s.completed = s.plugged = 0;

	struct blockif_opts o = {.path = s.path,
				 .no_uring = setup & 1,
				 .nocache = (setup & 2) && s.have_direct,
				 .sync = setup & 4};
	s.ev = evloop_new();
	FUZZ_CHECK(s.ev, "evloop_new");
	struct blockif *bc;
	char err[256];
	int rc = blockif_open(&o, s.ev, &bc, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "blockif_open: %s", err);

	for (int n = 0; n < MAX_OPS && in.left; n++) {
		uint8_t op = in_u8(&in);
		switch (op & 7) {
		case 4:
			pass();
			break;
		case 5:
			blockif_quiesce(bc);
			break;
		case 6:
			/* while plugged, io_uring requests wait for the unplug: passes would only
			 * spin (10000 of them cost over a second of CPU, the work bound) */
			for (int i = 0; i < 10000 && s.inflight && !s.plugged; i++)
				pass();
			break;
		case 7:
			if ((op & 8) && s.plugged) {
				blockif_unplug(bc);
				s.plugged--;
			} else if (!(op & 8) && s.plugged < 4) {
				blockif_plug(bc);
				s.plugged++;
			}
			break;
		default:
			start(bc, op, &in);
			break;
		}
	}
	while (s.plugged) {
		blockif_unplug(bc);
		s.plugged--;
	}
	for (int i = 0; i < 10000 && s.inflight; i++)
		pass();
	FUZZ_CHECK(s.inflight == 0, "%u requests never completed", s.inflight);
	FUZZ_CHECK(s.completed == s.started, "%u started, %u completed", s.started, s.completed);
	fuzz_work_check();
	blockif_close(bc);
	evloop_free(s.ev);
	fuzz_work_end();
	return 0;
}
