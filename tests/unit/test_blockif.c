/* SPDX-License-Identifier: BSD-2-Clause */
/* The block backend on real temporary files, with a real event loop pumped by the test:
 * every read/write/flush/discard test runs on both engines (io_uring where the kernel allows
 * it, and the worker threads). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/blockif.h"
#include "config/config.h"
#include "core/evloop.h"

#define MiB (1024u * 1024u)

static const bool engine_uring = false, engine_threads = true;

struct ctx {
	struct evloop *ev;
	struct blockif *bc;
	char path[64];
	int ndone, target;
	int results[4096];
	int order[4096];
	int nresults;
};

/* Each request's opaque points at one of these, so a result can be matched to its request. */
struct tag {
	struct ctx *c;
	int id;
};

static void on_done(void *opaque, int result)
{
	struct tag *t = opaque;
	struct ctx *c = t->c;
	if (t->id >= 0 && t->id < 4096)
		c->results[t->id] = result;
	if (c->nresults < 4096)
		c->order[c->nresults++] = t->id;
	if (++c->ndone == c->target)
		evloop_stop(c->ev, 0);
}

static void on_timeout(void *opaque)
{
	evloop_stop(opaque, -1);
}

/* Pump the loop until `target` completions arrived in total (10 s at most). */
static void run_until(struct ctx *c, int target)
{
	if (c->ndone >= target)
		return;
	c->target = target;
	struct evloop_handle *t = evloop_add_timer(c->ev, 10000, 0, on_timeout, c->ev);
	assert_non_null(t);
	int r = evloop_run(c->ev);
	evloop_del(c->ev, t);
	assert_int_equal(r, 0);
	assert_int_equal(c->ndone, target);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 31 + seed * 7 + (i >> 9)) ^ (seed >> 3));
}

/* A temp file of `size` bytes holding the pattern for seed 1. */
static void make_file(struct ctx *c, size_t size)
{
	strcpy(c->path, "/tmp/kb-blockif-XXXXXX");
	int fd = mkstemp(c->path);
	assert_true(fd >= 0);
	uint8_t *buf = malloc(size);
	fill_pattern(buf, size, 1);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	free(buf);
	close(fd);
}

static int open_bc(struct ctx *c, bool threads, const char *extra_opts, struct blockif **out)
{
	struct cfgnode *n = config_new();
	char err[256] = "";
	struct blockif_opts o;
	config_set(n, "path", c->path);
	if (extra_opts) {
		char *copy = strdup(extra_opts), *rest = copy, *tok;
		while ((tok = strsep(&rest, ",")) != NULL) {
			char *eq = strchr(tok, '=');
			if (eq) {
				*eq = '\0';
				config_set(n, tok, eq + 1);
			} else {
				config_set(n, tok, "true");
			}
		}
		free(copy);
	}
	int r = blockif_opts_from_config(n, &o, err, sizeof(err));
	config_free(n);
	assert_int_equal(r, 0);
	o.no_uring = threads;
	r = blockif_open(&o, c->ev, out, err, sizeof(err));
	if (r < 0)
		print_message("open: %s\n", err);
	blockif_opts_free(&o);
	return r;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	c->ev = evloop_new();
	assert_non_null(c->ev);
	bool threads = *state ? *(const bool *)*state : false;
	make_file(c, 4 * MiB);
	assert_int_equal(open_bc(c, threads, NULL, &c->bc), 0);
	if (!threads)
		print_message("default engine on this machine: %s\n", blockif_engine(c->bc));
	else
		assert_string_equal(blockif_engine(c->bc), "threads");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	blockif_close(c->bc);
	evloop_free(c->ev);
	unlink(c->path);
	free(c);
	return 0;
}

static void file_read(struct ctx *c, void *buf, size_t n, off_t off)
{
	int fd = open(c->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

/* ---- option parsing ---- */

static void test_sectorsize_good(void **state)
{
	static const struct {
		const char *s;
		unsigned l, p;
	} good[] = {{"512", 512, 512},	       {"4096", 4096, 4096},
		    {"512/4096", 512, 4096},   {"65536", 65536, 65536},
		    {"4096/4096", 4096, 4096}, {"1024/65536", 1024, 65536}};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned l = 0, p = 0;
		assert_int_equal(blockif_parse_sectorsize(good[i].s, &l, &p), 0);
		assert_int_equal(l, good[i].l);
		assert_int_equal(p, good[i].p);
	}
}

static void test_sectorsize_bad(void **state)
{
	static const char *const bad[] = {
	    "1000", "256",  "131072", "4096/512", "512/",	   "/512", "",		"abc",
	    "512x", "-512", " 512",   "512/1000", "512/4096/8192", "0",	   "4294967808"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned l = 7, p = 7;
		assert_int_equal(blockif_parse_sectorsize(bad[i], &l, &p), -EINVAL);
		assert_int_equal(l, 7); /* untouched on error */
		assert_int_equal(p, 7);
	}
	unsigned l, p;
	assert_int_equal(blockif_parse_sectorsize(NULL, &l, &p), -EINVAL);
}

static void test_opts_from_config(void **state)
{
	struct cfgnode *n = config_new();
	struct blockif_opts o;
	char err[256];
	assert_int_equal(blockif_opts_from_config(n, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "path"));

	config_set(n, "path", "/some/disk.img");
	config_set(n, "direct", "true");
	config_set(n, "nodelete", "yes");
	config_set(n, "sectorsize", "512/4096");
	assert_int_equal(blockif_opts_from_config(n, &o, err, sizeof(err)), 0);
	assert_string_equal(o.path, "/some/disk.img");
	assert_true(o.sync); /* direct is bhyve's other name for sync */
	assert_true(o.nodelete);
	assert_false(o.ro);
	assert_false(o.nocache);
	assert_int_equal(o.sectsz, 512);
	assert_int_equal(o.psectsz, 4096);
	blockif_opts_free(&o);

	config_set(n, "sectorsize", "1000");
	assert_int_equal(blockif_opts_from_config(n, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sectorsize=1000"));
	config_set(n, "sectorsize", "4096");
	config_set(n, "ro", "maybe");
	assert_int_equal(blockif_opts_from_config(n, &o, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "ro"));
	config_free(n);
}

/* ---- open ---- */

static void test_open_properties(void **state)
{
	struct ctx *c = *state;
	struct stat st;
	assert_int_equal(stat(c->path, &st), 0);
	assert_int_equal(blockif_size(c->bc), 4 * MiB);
	assert_int_equal(blockif_sectsz(c->bc), 512);
	/* a file's physical sector is its file system block when that is a valid sector size */
	if (st.st_blksize >= 512 && st.st_blksize <= 65536)
		assert_int_equal(blockif_psectsz(c->bc), st.st_blksize);
	assert_false(blockif_is_ro(c->bc));
	assert_int_equal(blockif_free_slots(c->bc), BLOCKIF_MAX_INFLIGHT);

	struct blockif *b2;
	assert_int_equal(open_bc(c, false, "sectorsize=4096/16384", &b2), 0);
	assert_int_equal(blockif_sectsz(b2), 4096);
	assert_int_equal(blockif_psectsz(b2), 16384);
	blockif_close(b2);
	assert_int_equal(open_bc(c, false, "sectorsize=2048", &b2), 0);
	assert_int_equal(blockif_sectsz(b2), 2048);
	assert_int_equal(blockif_psectsz(b2), 2048);
	blockif_close(b2);
}

static void test_open_errors(void **state)
{
	struct ctx *c = *state;
	char err[256];
	struct blockif *b = (void *)1;
	struct blockif_opts o = {.path = (char *)"/nonexistent/kb-disk.img"};
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -ENOENT);
	assert_null(b);
	assert_non_null(strstr(err, "/nonexistent/kb-disk.img"));
	o.path = (char *)"/dev/null"; /* a character device */
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file or block device"));
	o.path = (char *)"/tmp";
	o.ro = true;
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -EINVAL);
	o.path = c->path;
	o.ro = false;
	o.sectsz = 1000;
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -EINVAL);
	o.sectsz = 4096;
	o.psectsz = 512;
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -EINVAL);
	o.path = (char *)"";
	assert_int_equal(blockif_open(&o, c->ev, &b, err, sizeof(err)), -EINVAL);
}

/* ---- I/O ---- */

static void test_read_write(void **state)
{
	struct ctx *c = *state;
	/* write 3 segments (one empty) at an odd sector, read back with a different split */
	uint8_t *src = malloc(3 * 4096), *dst = calloc(1, 3 * 4096), *file = malloc(3 * 4096);
	fill_pattern(src, 3 * 4096, 9);
	struct iovec wiov[4] = {
	    {src, 1536}, {src + 1536, 0}, {src + 1536, 5120}, {src + 6656, 5632}};
	struct tag t0 = {c, 0}, t1 = {c, 1};
	assert_int_equal(blockif_write(c->bc, wiov, 4, 512 * 7, on_done, &t0), 0);
	assert_int_equal(c->ndone, 0); /* never completed inside the submitting call */
	run_until(c, 1);
	assert_int_equal(c->results[0], 3 * 4096);
	file_read(c, file, 3 * 4096, 512 * 7);
	assert_memory_equal(file, src, 3 * 4096);

	struct iovec riov[3] = {{dst, 512}, {dst + 512, 8192}, {dst + 8704, 3584}};
	assert_int_equal(blockif_read(c->bc, riov, 3, 512 * 7, on_done, &t1), 0);
	run_until(c, 2);
	assert_int_equal(c->results[1], 3 * 4096);
	assert_memory_equal(dst, src, 3 * 4096);
	/* the data around the write is untouched */
	uint8_t before[512], expect[512 * 8];
	fill_pattern(expect, sizeof(expect), 1);
	file_read(c, before, 512, 512 * 6);
	assert_memory_equal(before, expect + 512 * 6, 512);
	free(src);
	free(dst);
	free(file);
}

static void test_flush(void **state)
{
	struct ctx *c = *state;
	struct tag t = {c, 0};
	c->results[0] = 1234;
	assert_int_equal(blockif_flush(c->bc, on_done, &t), 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], 0);
}

static void test_zero_length_and_eof(void **state)
{
	struct ctx *c = *state;
	struct tag t0 = {c, 0}, t1 = {c, 1};
	c->results[0] = 99;
	assert_int_equal(blockif_read(c->bc, NULL, 0, 0, on_done, &t0), 0);
	assert_int_equal(c->ndone, 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], 0);
	/* past the end of the file: the backend reports an error, not a short success */
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	assert_int_equal(blockif_read(c->bc, &iov, 1, 4 * MiB, on_done, &t1), 0);
	run_until(c, 2);
	assert_int_equal(c->results[1], -EIO);
}

static void test_bad_arguments(void **state)
{
	struct ctx *c = *state;
	struct tag t = {c, 0};
	uint8_t b[512];
	struct iovec iov[2] = {{b, 512}, {b, (size_t)INT32_MAX}};
	assert_int_equal(blockif_read(c->bc, iov, 2, 0, on_done, &t), -EINVAL); /* > INT_MAX */
	assert_int_equal(blockif_read(c->bc, iov, -1, 0, on_done, &t), -EINVAL);
	assert_int_equal(blockif_read(c->bc, iov, 1, 0, NULL, &t), -EINVAL);
	assert_int_equal(blockif_read(c->bc, iov, 1, UINT64_MAX - 100, on_done, &t), -EINVAL);
	assert_int_equal(blockif_discard(c->bc, INT64_MAX, 4096, on_done, &t), -EINVAL);
	assert_int_equal(blockif_free_slots(c->bc), BLOCKIF_MAX_INFLIGHT);
}

/* More segments than IOV_MAX: the backend continues in several steps. */
static void test_many_segments(void **state)
{
	struct ctx *c = *state;
	enum { NSEG = 2500 };
	uint8_t *src = malloc(NSEG * 512), *dst = malloc(NSEG * 512);
	struct iovec *iov = calloc(NSEG, sizeof(*iov));
	fill_pattern(src, NSEG * 512, 5);
	for (int i = 0; i < NSEG; i++)
		iov[i] = (struct iovec){src + i * 512, 512};
	struct tag t0 = {c, 0}, t1 = {c, 1};
	assert_int_equal(blockif_write(c->bc, iov, NSEG, 0, on_done, &t0), 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], NSEG * 512);
	for (int i = 0; i < NSEG; i++)
		iov[i] = (struct iovec){dst + (NSEG - 1 - i) * 512, 512}; /* reversed buffers */
	assert_int_equal(blockif_read(c->bc, iov, NSEG, 0, on_done, &t1), 0);
	run_until(c, 2);
	assert_int_equal(c->results[1], NSEG * 512);
	for (int i = 0; i < NSEG; i++)
		assert_memory_equal(dst + (NSEG - 1 - i) * 512, src + i * 512, 512);
	free(src);
	free(dst);
	free(iov);
}

static blkcnt_t file_blocks(struct ctx *c)
{
	struct stat st;
	assert_int_equal(stat(c->path, &st), 0);
	return st.st_blocks;
}

static void test_discard_punches_hole(void **state)
{
	struct ctx *c = *state;
	assert_true(blockif_candelete(c->bc)); /* /tmp supports holes here */
	blkcnt_t before = file_blocks(c);
	struct tag t0 = {c, 0};
	assert_int_equal(blockif_discard(c->bc, 1 * MiB, 1 * MiB, on_done, &t0), 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], 0);
	blkcnt_t after = file_blocks(c);
	assert_true(after <= before - (blkcnt_t)(1 * MiB / 512));
	int fd = open(c->path, O_RDONLY);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 1 * MiB);
	assert_int_equal(lseek(fd, 1 * MiB, SEEK_DATA), 2 * MiB);
	close(fd);
	uint8_t buf[4096], zero[4096] = {0}, expect[4096];
	file_read(c, buf, sizeof(buf), 1 * MiB + 8192);
	assert_memory_equal(buf, zero, sizeof(buf));
	assert_int_equal(blockif_size(c->bc), 4 * MiB);
	struct stat st;
	stat(c->path, &st);
	assert_int_equal(st.st_size, 4 * MiB); /* KEEP_SIZE */
	/* the neighbours keep their data */
	uint8_t *all = malloc(4 * MiB);
	fill_pattern(all, 4 * MiB, 1);
	file_read(c, expect, sizeof(expect), 2 * MiB);
	assert_memory_equal(expect, all + 2 * MiB, sizeof(expect));
	free(all);
}

static void test_nodelete(void **state)
{
	struct ctx *c = *state;
	struct blockif *b;
	assert_int_equal(open_bc(c, false, "nodelete", &b), 0);
	assert_false(blockif_candelete(b));
	struct tag t = {c, 0};
	assert_int_equal(blockif_discard(b, 0, 4096, on_done, &t), -EOPNOTSUPP);
	blockif_close(b);
}

static void test_ro_refuses_writes(void **state)
{
	struct ctx *c = *state;
	bool threads = blockif_engine(c->bc)[0] == 't';
	struct blockif *b;
	assert_int_equal(open_bc(c, threads, "ro", &b), 0);
	assert_true(blockif_is_ro(b));
	assert_false(blockif_candelete(b));
	uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct tag t0 = {c, 0};
	assert_int_equal(blockif_write(b, &iov, 1, 0, on_done, &t0), -EROFS);
	assert_int_equal(blockif_discard(b, 0, 512, on_done, &t0), -EROFS);
	assert_int_equal(blockif_read(b, &iov, 1, 512, on_done, &t0), 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], 512);
	uint8_t expect[1024];
	fill_pattern(expect, sizeof(expect), 1);
	assert_memory_equal(buf, expect + 512, 512);
	blockif_close(b);
}

/* nocache: O_DIRECT with guest buffers at odd addresses and lengths goes through the bounce
 * buffer (also over more than one bounce chunk); aligned buffers go straight through. */
static void test_nocache_unaligned(void **state)
{
	struct ctx *c = *state;
	bool threads = blockif_engine(c->bc)[0] == 't';
	struct blockif *b;
	int r = open_bc(c, threads, "nocache", &b);
	if (r == -EINVAL) {
		print_message("O_DIRECT is not supported on /tmp here: skipped\n");
		skip();
	}
	assert_int_equal(r, 0);
	enum { LEN = 1 * MiB + 8192 };
	uint8_t *raw = malloc(LEN + 64), *src = raw + 3; /* misaligned on purpose */
	uint8_t *rraw = malloc(LEN + 64), *dst = rraw + 5;
	fill_pattern(src, LEN, 77);
	struct iovec wiov[3] = {{src, 100}, {src + 100, 412 + 4096}, {src + 4608, LEN - 4608}};
	struct tag t0 = {c, 0}, t1 = {c, 1}, t2 = {c, 2}, t3 = {c, 3};
	assert_int_equal(blockif_write(b, wiov, 3, 8192, on_done, &t0), 0);
	run_until(c, 1);
	assert_int_equal(c->results[0], LEN);
	struct iovec riov[2] = {{dst, 7}, {dst + 7, LEN - 7}};
	assert_int_equal(blockif_read(b, riov, 2, 8192, on_done, &t1), 0);
	run_until(c, 2);
	assert_int_equal(c->results[1], LEN);
	assert_memory_equal(dst, src, LEN);
	uint8_t *file = malloc(LEN);
	file_read(c, file, LEN, 8192);
	assert_memory_equal(file, src, LEN);

	/* aligned buffers: no bounce */
	uint8_t *al = NULL;
	assert_int_equal(posix_memalign((void **)&al, 4096, 16384), 0);
	memset(al, 0x5a, 16384);
	struct iovec aiov = {al, 16384};
	assert_int_equal(blockif_write(b, &aiov, 1, 2 * MiB, on_done, &t2), 0);
	run_until(c, 3);
	assert_int_equal(c->results[2], 16384);
	memset(al, 0, 16384);
	assert_int_equal(blockif_read(b, &aiov, 1, 2 * MiB, on_done, &t3), 0);
	run_until(c, 4);
	assert_int_equal(c->results[3], 16384);
	for (int i = 0; i < 16384; i++)
		assert_int_equal(al[i], 0x5a);
	free(al);
	free(file);
	free(raw);
	free(rraw);
	blockif_close(b);
}

/* A full queue: BLOCKIF_MAX_INFLIGHT requests in flight, the next is refused with -EAGAIN,
 * every request completes, and a submission from a done callback always gets a slot. */
static void test_queue_full_and_ordering(void **state)
{
	struct ctx *c = *state;
	enum { N = BLOCKIF_MAX_INFLIGHT };
	static uint8_t bufs[N][4096];
	static struct tag tags[N + 1];
	struct iovec iov[N];
	for (int i = 0; i < N; i++) {
		fill_pattern(bufs[i], 4096, 100 + (unsigned)i);
		iov[i] = (struct iovec){bufs[i], 4096};
		tags[i] = (struct tag){c, i};
		c->results[i] = 1;
		assert_int_equal(
		    blockif_write(c->bc, &iov[i], 1, (uint64_t)i * 4096 * 3, on_done, &tags[i]), 0);
	}
	tags[N] = (struct tag){c, N};
	assert_int_equal(blockif_free_slots(c->bc), 0);
	assert_int_equal(blockif_write(c->bc, &iov[0], 1, 0, on_done, &tags[N]), -EAGAIN);
	run_until(c, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(c->results[i], 4096);
	/* every request completed exactly once */
	int seen[N] = {0};
	for (int i = 0; i < c->nresults; i++)
		seen[c->order[i]]++;
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(blockif_free_slots(c->bc), N);
	uint8_t got[4096];
	for (int i = 0; i < N; i++) {
		file_read(c, got, 4096, (off_t)i * 4096 * 3);
		assert_memory_equal(got, bufs[i], 4096);
	}
}

/* Keep the queue full from the done callbacks: 1000 reads through 128 slots. */
struct refill {
	struct ctx *c;
	int submitted, completed, total, errors;
	uint8_t buf[BLOCKIF_MAX_INFLIGHT][512];
	struct iovec iov[BLOCKIF_MAX_INFLIGHT];
	int slot_of[1000];
	uint8_t expect[4 * MiB];
};

static void refill_done(void *opaque, int result);

static int refill_submit(struct refill *rf, int slot)
{
	int id = rf->submitted;
	rf->slot_of[id] = slot;
	rf->iov[slot] = (struct iovec){rf->buf[slot], 512};
	uint64_t off = (uint64_t)((id * 7919) % 8192) * 512;
	int r = blockif_read(rf->c->bc, &rf->iov[slot], 1, off, refill_done,
			     (void *)(uintptr_t)(id + 1));
	if (r == 0)
		rf->submitted++;
	return r;
}

static struct refill *g_refill;

static void refill_done(void *opaque, int result)
{
	struct refill *rf = g_refill;
	int id = (int)(uintptr_t)opaque - 1;
	int slot = rf->slot_of[id];
	uint64_t off = (uint64_t)((id * 7919) % 8192) * 512;
	if (result != 512 || memcmp(rf->buf[slot], rf->expect + off, 512) != 0)
		rf->errors++;
	rf->completed++;
	if (rf->submitted < rf->total && refill_submit(rf, slot) != 0)
		rf->errors++; /* the contract: a slot is always free inside done */
	if (rf->completed == rf->total)
		evloop_stop(rf->c->ev, 0);
}

static void test_refill_from_done(void **state)
{
	struct ctx *c = *state;
	struct refill *rf = calloc(1, sizeof(*rf));
	g_refill = rf;
	rf->c = c;
	rf->total = 1000;
	fill_pattern(rf->expect, 4 * MiB, 1);
	for (int s = 0; s < BLOCKIF_MAX_INFLIGHT; s++)
		assert_int_equal(refill_submit(rf, s), 0);
	struct evloop_handle *t = evloop_add_timer(c->ev, 10000, 0, on_timeout, c->ev);
	assert_int_equal(evloop_run(c->ev), 0);
	evloop_del(c->ev, t);
	assert_int_equal(rf->completed, 1000);
	assert_int_equal(rf->errors, 0);
	free(rf);
}

/* quiesce waits for the I/O itself; the callbacks still come on the loop afterwards. Closing
 * with undelivered requests drops their callbacks. */
static void test_quiesce_and_close(void **state)
{
	struct ctx *c = *state;
	static uint8_t bufs[64][8192];
	static struct tag tags[64];
	struct iovec iov[64];
	for (int i = 0; i < 64; i++) {
		iov[i] = (struct iovec){bufs[i], 8192};
		tags[i] = (struct tag){c, i};
		assert_int_equal(
		    blockif_read(c->bc, &iov[i], 1, (uint64_t)i * 8192, on_done, &tags[i]), 0);
	}
	blockif_quiesce(c->bc);
	assert_int_equal(c->ndone, 0);
	/* the buffers are final before any callback ran */
	uint8_t *expect = malloc(64 * 8192);
	fill_pattern(expect, 64 * 8192, 1);
	for (int i = 0; i < 64; i++)
		assert_memory_equal(bufs[i], expect + i * 8192, 8192);
	run_until(c, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(c->results[i], 8192);

	/* in flight at close: no callback, no leak (ASan), no crash */
	for (int i = 0; i < 32; i++)
		assert_int_equal(
		    blockif_write(c->bc, &iov[i], 1, (uint64_t)i * 8192, on_done, &tags[i]), 0);
	assert_int_equal(blockif_flush(c->bc, on_done, &tags[33]), 0);
	blockif_close(c->bc);
	c->bc = NULL;
	assert_int_equal(c->ndone, 64);
	free(expect);
}

/* Plugged: io_uring requests wait for the unplug (the worker pool starts them at once). */
static void test_plug(void **state)
{
	struct ctx *c = *state;
	bool threads = blockif_engine(c->bc)[0] == 't';
	static uint8_t bufs[16][512];
	static struct tag tags[16];
	struct iovec iov[16];
	blockif_plug(c->bc);
	blockif_plug(c->bc); /* nested */
	for (int i = 0; i < 16; i++) {
		iov[i] = (struct iovec){bufs[i], 512};
		tags[i] = (struct tag){c, i};
		assert_int_equal(
		    blockif_read(c->bc, &iov[i], 1, (uint64_t)i * 512, on_done, &tags[i]), 0);
	}
	blockif_unplug(c->bc);
	if (!threads) {
		struct evloop_handle *t = evloop_add_timer(c->ev, 30, 0, on_timeout, c->ev);
		assert_int_equal(evloop_run(c->ev), -1); /* nothing completes meanwhile */
		evloop_del(c->ev, t);
		assert_int_equal(c->ndone, 0);
	}
	blockif_unplug(c->bc);
	run_until(c, 16);
	uint8_t expect[16 * 512];
	fill_pattern(expect, sizeof(expect), 1);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(c->results[i], 512);
		assert_memory_equal(bufs[i], expect + i * 512, 512);
	}
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&engine_uring),      \
	    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&engine_threads)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sectorsize_good),
	    cmocka_unit_test(test_sectorsize_bad),
	    cmocka_unit_test(test_opts_from_config),
	    cmocka_unit_test_prestate_setup_teardown(test_open_properties, setup, teardown,
						     (void *)&engine_uring),
	    cmocka_unit_test_prestate_setup_teardown(test_open_errors, setup, teardown,
						     (void *)&engine_uring),
	    cmocka_unit_test_prestate_setup_teardown(test_nodelete, setup, teardown,
						     (void *)&engine_uring),
	    BOTH(test_read_write),
	    BOTH(test_flush),
	    BOTH(test_zero_length_and_eof),
	    BOTH(test_bad_arguments),
	    BOTH(test_many_segments),
	    BOTH(test_discard_punches_hole),
	    BOTH(test_ro_refuses_writes),
	    BOTH(test_nocache_unaligned),
	    BOTH(test_queue_full_and_ordering),
	    BOTH(test_refill_from_done),
	    BOTH(test_quiesce_and_close),
	    BOTH(test_plug),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
