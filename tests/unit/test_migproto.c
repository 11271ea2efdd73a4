/* SPDX-License-Identifier: BSD-2-Clause */
/* The live-migration stream's framing (snapshot/migproto.c): headers round-trip for every type
 * with the exact byte layout; each malformed header is refused (magic, version, type, a length
 * the type does not allow); RAM ranges of MEM and ZERO are whole pages inside RAM (misaligned,
 * empty, past the end and wrapping ranges refused); and the blocking helpers over a socketpair:
 * a payload in two buffers arrives whole (also through a small socket buffer, in many partial
 * writes), end of stream is -EPIPE on both sides, silence is -ETIMEDOUT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/byteorder.h"
#include "snapshot/migproto.h"

#define ERRLEN 256
#define STATE_MAX                                                                                  \
	(1u << 20) /* the STATE limit these tests pass (the receiver: SNAPFILE_KERN_MAX) */
#define RAM (16ull << 20)

/* ---- headers ---- */

/* Parse a header made with mig_header: 0 with f set, or the refusal (err always set then). */
static int parse(uint16_t type, uint64_t len, struct mig_frame *f, char *err)
{
	uint8_t hdr[MIG_HDR];
	mig_header(hdr, type, len);
	err[0] = '\0';
	return mig_parse_header(hdr, STATE_MAX, f, err, ERRLEN);
}

static void header_ok(uint16_t type, uint64_t len)
{
	uint8_t hdr[MIG_HDR];
	mig_header(hdr, type, len);
	/* "KBMG", u16 version, u16 type, u64 length, little-endian */
	assert_memory_equal(hdr, "KBMG", 4);
	assert_int_equal(hdr[4], MIG_VERSION);
	assert_int_equal(hdr[5], 0);
	assert_int_equal(hdr[6], type & 0xff);
	assert_int_equal(hdr[7], type >> 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(hdr[8 + i], (uint8_t)(len >> (8 * i)));
	struct mig_frame f = {0, 0};
	char err[ERRLEN] = "";
	assert_int_equal(mig_parse_header(hdr, STATE_MAX, &f, err, sizeof(err)), 0);
	assert_int_equal(f.type, type);
	assert_true(f.len == len);
	assert_string_equal(err, "");
}

static void header_refused(uint16_t type, uint64_t len, const char *want)
{
	struct mig_frame f;
	char err[ERRLEN];
	assert_int_equal(parse(type, len, &f, err), -EPROTO);
	if (!strstr(err, want))
		fail_msg("type %u len %llu: \"%s\" lacks \"%s\"", type, (unsigned long long)len,
			 err, want);
}

static void test_header_roundtrip(void **state)
{
	(void)state;
	static const struct {
		uint16_t type;
		const char *name;
		uint64_t lens[3]; /* the allowed extremes and one between */
	} ok[] = {
	    {MIG_HELLO, "HELLO", {0, 1234, MIG_TEXT_MAX}},
	    {MIG_OK, "OK", {0, 0, 0}},
	    {MIG_ERROR, "ERROR", {0, 17, MIG_TEXT_MAX}},
	    {MIG_MEM, "MEM", {8 + MIG_PAGE, 8 + 3 * MIG_PAGE, 8 + MIG_MEM_MAX}},
	    {MIG_ZERO, "ZERO", {16, 16, 16}},
	    {MIG_STATE, "STATE", {0, 4096, STATE_MAX}},
	    {MIG_DONE, "DONE", {0, 0, 0}},
	    {MIG_READY, "READY", {0, 0, 0}},
	    {MIG_COMMIT, "COMMIT", {0, 0, 0}},
	};
	assert_int_equal(sizeof(ok) / sizeof(ok[0]), MIG_COMMIT);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(ok[i].type, i + 1);
		assert_string_equal(mig_type_name(ok[i].type), ok[i].name);
		for (int k = 0; k < 3; k++)
			header_ok(ok[i].type, ok[i].lens[k]);
	}
	assert_string_equal(mig_type_name(0), "unknown");
	assert_string_equal(mig_type_name(MIG_COMMIT + 1), "unknown");
	assert_string_equal(mig_type_name(0xFFFF), "unknown");
}

static void test_header_bad_magic_version(void **state)
{
	(void)state;
	struct mig_frame f;
	char err[ERRLEN];
	uint8_t hdr[MIG_HDR];
	for (int i = 0; i < 4; i++) {
		mig_header(hdr, MIG_DONE, 0);
		hdr[i] ^= 0x20; /* "kBMG", "KbMG"...: case matters */
		err[0] = '\0';
		assert_int_equal(mig_parse_header(hdr, STATE_MAX, &f, err, sizeof(err)), -EPROTO);
		assert_string_equal(err, "not a kbhyve migration stream");
	}
	memset(hdr, 0, sizeof(hdr));
	assert_int_equal(mig_parse_header(hdr, STATE_MAX, &f, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "not a kbhyve migration stream");
	static const uint16_t versions[] = {0, 2, 0x100, 0xFFFF};
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		mig_header(hdr, MIG_DONE, 0);
		put_le16(hdr + 4, versions[i]);
		err[0] = '\0';
		assert_int_equal(mig_parse_header(hdr, STATE_MAX, &f, err, sizeof(err)), -EPROTO);
		char want[ERRLEN];
		snprintf(want, sizeof(want), "migration protocol version %u, this bhyve speaks 1",
			 versions[i]);
		assert_string_equal(err, want);
	}
}

static void test_header_bad_type(void **state)
{
	(void)state;
	static const uint16_t types[] = {0, MIG_COMMIT + 1, 0x100, 0xFFFF};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), "unknown migration message type %u", types[i]);
		header_refused(types[i], 0, want);
	}
	assert_int_equal(MIG_COMMIT + 1, 10);
}

static void test_header_bad_length(void **state)
{
	(void)state;
	/* MEM: the offset and at least one page, at most MIG_MEM_MAX bytes of pages */
	static const uint64_t mem[] = {
	    0,	       8, 16, 8 + MIG_PAGE - 1, 8 + MIG_MEM_MAX + 1, 8 + 2 * (uint64_t)MIG_MEM_MAX,
	    UINT64_MAX};
	for (size_t i = 0; i < sizeof(mem) / sizeof(mem[0]); i++)
		header_refused(MIG_MEM, mem[i], "migration message MEM of");
	header_refused(MIG_MEM, 8 + MIG_PAGE - 1, "migration message MEM of 4103 bytes");
	header_refused(MIG_MEM, 8 + MIG_MEM_MAX + 1, "migration message MEM of 16777225 bytes");
	/* ZERO: offset and length, exactly 16 bytes */
	static const uint64_t zero[] = {0, 8, 15, 17, 24, 8 + MIG_PAGE, UINT64_MAX};
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		header_refused(MIG_ZERO, zero[i], "migration message ZERO of");
	/* no payload at all */
	static const uint16_t empty[] = {MIG_OK, MIG_DONE, MIG_READY, MIG_COMMIT};
	static const uint64_t some[] = {1, 16, 4096, 1ull << 32, UINT64_MAX};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
		for (size_t k = 0; k < sizeof(some) / sizeof(some[0]); k++)
			header_refused(empty[i], some[k], "of");
	header_refused(MIG_COMMIT, 1, "migration message COMMIT of 1 bytes");
	header_refused(MIG_OK, 16, "migration message OK of 16 bytes");
	/* STATE: up to the maximum the caller gives */
	header_refused(MIG_STATE, STATE_MAX + 1, "migration message STATE of 1048577 bytes");
	header_refused(MIG_STATE, UINT64_MAX, "migration message STATE of");
	uint8_t hdr[MIG_HDR];
	struct mig_frame f;
	char err[ERRLEN];
	mig_header(hdr, MIG_STATE, 1);
	assert_int_equal(mig_parse_header(hdr, 0, &f, err, sizeof(err)), -EPROTO);
	assert_int_equal(mig_parse_header(hdr, 1, &f, err, sizeof(err)), 0);
	/* text: up to MIG_TEXT_MAX */
	header_refused(MIG_HELLO, MIG_TEXT_MAX + 1, "migration message HELLO of 16777217 bytes");
	header_refused(MIG_ERROR, MIG_TEXT_MAX + 1, "migration message ERROR of");
	header_refused(MIG_HELLO, UINT64_MAX, "migration message HELLO of");
}

/* A refusal fits any buffer: cut short, NUL-terminated, nothing written past errlen. */
static void test_header_short_err(void **state)
{
	(void)state;
	uint8_t hdr[MIG_HDR];
	struct mig_frame f;
	char err[16];
	memset(err, 'x', sizeof(err));
	mig_header(hdr, MIG_MEM, 0);
	assert_int_equal(mig_parse_header(hdr, STATE_MAX, &f, err, 8), -EPROTO);
	assert_string_equal(err, "migrati");
	assert_int_equal(err[8], 'x');
}

/* ---- RAM ranges ---- */

static int range(uint16_t type, uint64_t off, uint64_t len, uint64_t ramsize, uint64_t *goff,
		 uint64_t *glen, char *err)
{
	uint8_t payload[16];
	struct mig_frame f = {.type = type};
	put_le64(payload, off);
	if (type == MIG_ZERO) {
		f.len = 16;
		put_le64(payload + 8, len);
	} else {
		f.len = 8 + len;
	}
	err[0] = '\0';
	return mig_parse_range(&f, payload, ramsize, goff, glen, err, ERRLEN);
}

static void range_ok(uint16_t type, uint64_t off, uint64_t len)
{
	uint64_t o = 1, l = 1;
	char err[ERRLEN];
	assert_int_equal(range(type, off, len, RAM, &o, &l, err), 0);
	assert_true(o == off);
	assert_true(l == len);
	assert_string_equal(err, "");
}

static void range_refused(uint16_t type, uint64_t off, uint64_t len)
{
	uint64_t o, l;
	char err[ERRLEN];
	if (range(type, off, len, RAM, &o, &l, err) != -EPROTO)
		fail_msg("%s of %#llx at %#llx accepted", mig_type_name(type),
			 (unsigned long long)len, (unsigned long long)off);
	char want[ERRLEN];
	snprintf(want, sizeof(want), "%s of %llu bytes at %#llx is not whole pages of guest RAM",
		 mig_type_name(type), (unsigned long long)len, (unsigned long long)off);
	assert_string_equal(err, want);
}

static void test_range_accepted(void **state)
{
	(void)state;
	for (uint16_t t = MIG_MEM; t <= MIG_ZERO; t++) {
		range_ok(t, 0, MIG_PAGE);
		range_ok(t, MIG_PAGE, 2 * MIG_PAGE);
		range_ok(t, RAM - MIG_PAGE, MIG_PAGE); /* the last page */
		range_ok(t, 0, RAM);		       /* all of it (MEM: MIG_MEM_MAX bytes) */
		range_ok(t, RAM / 2, RAM / 2);
	}
	range_ok(MIG_ZERO, 0x1000, RAM - 0x1000);
	/* a large RAM, offsets beyond 4 GiB */
	uint64_t o, l;
	char err[ERRLEN];
	assert_int_equal(range(MIG_ZERO, 5ull << 32, 1ull << 32, 6ull << 32, &o, &l, err), 0);
	assert_true(o == 5ull << 32 && l == 1ull << 32);
	assert_int_equal(range(MIG_MEM, (6ull << 32) - MIG_PAGE, MIG_PAGE, 6ull << 32, &o, &l, err),
			 0);
}

static void test_range_refused(void **state)
{
	(void)state;
	for (uint16_t t = MIG_MEM; t <= MIG_ZERO; t++) {
		/* misaligned offset */
		range_refused(t, 1, MIG_PAGE);
		range_refused(t, MIG_PAGE - 1, MIG_PAGE);
		range_refused(t, MIG_PAGE + 8, MIG_PAGE);
		range_refused(t, RAM - MIG_PAGE - 1, MIG_PAGE);
		/* misaligned length */
		range_refused(t, 0, MIG_PAGE + 1);
		range_refused(t, 0, 2 * MIG_PAGE - 8);
		/* past the end */
		range_refused(t, RAM, MIG_PAGE);
		range_refused(t, RAM - MIG_PAGE, 2 * MIG_PAGE);
		range_refused(t, RAM + MIG_PAGE, MIG_PAGE);
		range_refused(t, 1ull << 40, MIG_PAGE);
		/* wrapping: offset + length past 2^64 lands inside RAM */
		range_refused(t, 0ull - MIG_PAGE, MIG_PAGE);
		range_refused(t, 0ull - MIG_PAGE, 2 * MIG_PAGE);
		range_refused(t, 0ull - 2 * MIG_PAGE, 3 * MIG_PAGE);
		range_refused(t, UINT64_MAX, MIG_PAGE);
	}
	/* MEM's length comes from the header: a frame that is not whole pages */
	range_refused(MIG_MEM, 0, MIG_PAGE - 1);
	/* ZERO's length is its own field: zero, misaligned, huge, wrapping */
	range_refused(MIG_ZERO, 0, 0);
	range_refused(MIG_ZERO, MIG_PAGE, 0);
	range_refused(MIG_ZERO, RAM, 0);
	range_refused(MIG_ZERO, 0, 1);
	range_refused(MIG_ZERO, 0, RAM + MIG_PAGE);
	range_refused(MIG_ZERO, MIG_PAGE, RAM);
	range_refused(MIG_ZERO, MIG_PAGE, 0ull - MIG_PAGE); /* off + len wraps to 0 */
	range_refused(MIG_ZERO, 2 * MIG_PAGE, 0ull - MIG_PAGE);
	range_refused(MIG_ZERO, 0, 0ull - MIG_PAGE);
	range_refused(MIG_ZERO, 0, UINT64_MAX);
	/* no RAM at all */
	uint64_t o, l;
	char err[ERRLEN];
	assert_int_equal(range(MIG_ZERO, 0, MIG_PAGE, 0, &o, &l, err), -EPROTO);
	assert_int_equal(range(MIG_MEM, 0, MIG_PAGE, 0, &o, &l, err), -EPROTO);
}

/* ---- over a socketpair ---- */

struct pair {
	int a, b; /* a: the sender, b: the receiver */
};

static int pair_setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	p->a = sv[0];
	p->b = sv[1];
	*state = p;
	return 0;
}

static int pair_teardown(void **state)
{
	struct pair *p = *state;
	if (p->a >= 0)
		close(p->a);
	if (p->b >= 0)
		close(p->b);
	free(p);
	return 0;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Receive one frame: header (checked) and payload (malloc'd; the caller frees it). */
static uint8_t *recv_frame(int fd, struct mig_frame *f)
{
	uint8_t hdr[MIG_HDR];
	char err[ERRLEN];
	assert_int_equal(mig_recv_all(fd, hdr, sizeof(hdr), 5000), 0);
	assert_int_equal(mig_parse_header(hdr, 64u << 20, f, err, sizeof(err)), 0);
	uint8_t *payload = malloc(f->len ? f->len : 1);
	assert_non_null(payload);
	assert_int_equal(mig_recv_all(fd, payload, f->len, 5000), 0);
	return payload;
}

static void test_send2_two_buffers(void **state)
{
	struct pair *p = *state;
	uint8_t off[8], page[2 * MIG_PAGE];
	put_le64(off, 0x123000);
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(mig_send2(p->a, MIG_MEM, off, sizeof(off), page, sizeof(page)), 0);
	struct mig_frame f;
	uint8_t *got = recv_frame(p->b, &f);
	assert_int_equal(f.type, MIG_MEM);
	assert_int_equal(f.len, 8 + sizeof(page));
	assert_memory_equal(got, off, 8);
	assert_memory_equal(got + 8, page, sizeof(page));
	uint64_t o, l;
	char err[ERRLEN];
	assert_int_equal(mig_parse_range(&f, got, RAM, &o, &l, err, sizeof(err)), 0);
	assert_true(o == 0x123000 && l == sizeof(page));
	free(got);

	/* one buffer, no buffer, and the first one empty */
	assert_int_equal(mig_send(p->a, MIG_HELLO, "{}", 2), 0);
	assert_int_equal(mig_send(p->a, MIG_DONE, NULL, 0), 0);
	assert_int_equal(mig_send2(p->a, MIG_ERROR, NULL, 0, "why", 3), 0);
	got = recv_frame(p->b, &f);
	assert_int_equal(f.type, MIG_HELLO);
	assert_int_equal(f.len, 2);
	assert_memory_equal(got, "{}", 2);
	free(got);
	got = recv_frame(p->b, &f);
	assert_int_equal(f.type, MIG_DONE);
	assert_int_equal(f.len, 0);
	free(got);
	got = recv_frame(p->b, &f);
	assert_int_equal(f.type, MIG_ERROR);
	assert_int_equal(f.len, 3);
	assert_memory_equal(got, "why", 3);
	free(got);
}

struct reader {
	int fd;
	size_t len;
	uint8_t *buf;
	int rc;
	struct mig_frame f;
};

static void *read_frame(void *opaque)
{
	struct reader *r = opaque;
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL); /* the sender takes the timer's signals */
	uint8_t hdr[MIG_HDR];
	char err[ERRLEN];
	r->rc = mig_recv_all(r->fd, hdr, sizeof(hdr), 5000);
	if (r->rc == 0)
		r->rc = mig_parse_header(hdr, 64u << 20, &r->f, err, sizeof(err));
	if (r->rc == 0 && r->f.len != r->len)
		r->rc = -E2BIG;
	/* slowly, in small pieces: the sender waits in writev most of the time */
	for (size_t at = 0; r->rc == 0 && at < r->len; at += 1000) {
		size_t n = r->len - at < 1000 ? r->len - at : 1000;
		r->rc = mig_recv_all(r->fd, r->buf + at, n, 5000);
		if (at % 16000 == 0)
			usleep(200);
	}
	return NULL;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* A frame much larger than the socket buffer, sent while a timer's signal (no SA_RESTART)
 * keeps interrupting writev: it returns short counts that end inside the header, the first
 * buffer and the second, or fails with EINTR; the frame still arrives whole and in order. */
static void test_send2_partial_writes(void **state)
{
	struct pair *p = *state;
	int small = 4096;
	assert_int_equal(setsockopt(p->a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(p->b, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	size_t alen = 100003, blen = 1u << 20;
	uint8_t *a = malloc(alen), *b = malloc(blen);
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < alen; i++)
		a[i] = (uint8_t)(i * 13 + 1);
	for (size_t i = 0; i < blen; i++)
		b[i] = (uint8_t)(i * 31 + (i >> 12));
	struct reader r = {.fd = p->b, .len = alen + blen};
	r.buf = malloc(r.len);
	assert_non_null(r.buf);
	struct sigaction sa = {.sa_handler = on_alarm}, old; /* no SA_RESTART */
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_frame, &r), 0);
	struct itimerval every = {{0, 500}, {0, 500}}, off = {{0, 0}, {0, 0}};
	assert_int_equal(setitimer(ITIMER_REAL, &every, NULL), 0);
	int rc = mig_send2(p->a, MIG_STATE, a, alen, b, blen);
	setitimer(ITIMER_REAL, &off, NULL);
	pthread_join(t, NULL);
	sigaction(SIGALRM, &old, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(r.rc, 0);
	assert_true(alarms > 0);
	assert_int_equal(r.f.type, MIG_STATE);
	assert_memory_equal(r.buf, a, alen);
	assert_memory_equal(r.buf + alen, b, blen);
	free(r.buf);
	free(a);
	free(b);
}

/* End of stream: before anything, inside a header, inside a payload; always -EPIPE. */
static void test_recv_peer_closes(void **state)
{
	struct pair *p = *state;
	uint8_t buf[64];
	uint8_t hdr[MIG_HDR];
	mig_header(hdr, MIG_DONE, 0);
	assert_int_equal(write(p->a, hdr, 5), 5);
	shutdown(p->a, SHUT_WR);
	assert_int_equal(mig_recv_all(p->b, buf, sizeof(hdr), 5000), -EPIPE);
	assert_memory_equal(buf, hdr, 5); /* what came is there */
	assert_int_equal(mig_recv_all(p->b, buf, 1, 5000), -EPIPE);
	assert_int_equal(mig_recv_all(p->b, buf, 1, -1), -EPIPE);
	/* nothing asked: nothing read, whatever the stream */
	assert_int_equal(mig_recv_all(p->b, buf, 0, 0), 0);
	close(p->a);
	p->a = -1;
	assert_int_equal(mig_recv_all(p->b, buf, 16, 5000), -EPIPE);
}

/* Sending to a peer that is gone: -EPIPE (bhyve ignores SIGPIPE, as this test does). */
static void test_send_peer_closed(void **state)
{
	struct pair *p = *state;
	close(p->b);
	p->b = -1;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	assert_int_equal(mig_send(p->a, MIG_DONE, NULL, 0), -EPIPE);
	uint8_t page[MIG_PAGE] = {0};
	assert_int_equal(mig_send2(p->a, MIG_MEM, page, 8, page, sizeof(page)), -EPIPE);
	sigaction(SIGPIPE, &old, NULL);
}

static void test_recv_timeout(void **state)
{
	struct pair *p = *state;
	uint8_t buf[MIG_HDR];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mig_recv_all(p->b, buf, sizeof(buf), 100), -ETIMEDOUT);
	long ms = ms_since(&t0);
	assert_true(ms >= 90 && ms < 5000);
	/* part of a header, then silence: still a timeout (the clock restarts per read) */
	assert_int_equal(write(p->a, "KBMG", 4), 4);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(mig_recv_all(p->b, buf, sizeof(buf), 100), -ETIMEDOUT);
	ms = ms_since(&t0);
	assert_true(ms >= 90 && ms < 5000);
	assert_memory_equal(buf, "KBMG", 4);
	/* a zero timeout only takes what is there */
	assert_int_equal(mig_recv_all(p->b, buf, 1, 0), -ETIMEDOUT);
	assert_int_equal(write(p->a, "x", 1), 1);
	assert_int_equal(mig_recv_all(p->b, buf, 1, 0), 0);
	assert_int_equal(buf[0], 'x');
	/* data there: no wait (and no poll with a negative timeout) */
	mig_header(buf, MIG_COMMIT, 0);
	assert_int_equal(mig_send(p->a, MIG_COMMIT, NULL, 0), 0);
	uint8_t got[MIG_HDR];
	assert_int_equal(mig_recv_all(p->b, got, sizeof(got), -1), 0);
	assert_memory_equal(got, buf, sizeof(buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_roundtrip),
	    cmocka_unit_test(test_header_bad_magic_version),
	    cmocka_unit_test(test_header_bad_type),
	    cmocka_unit_test(test_header_bad_length),
	    cmocka_unit_test(test_header_short_err),
	    cmocka_unit_test(test_range_accepted),
	    cmocka_unit_test(test_range_refused),
	    cmocka_unit_test_setup_teardown(test_send2_two_buffers, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_send2_partial_writes, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_recv_peer_closes, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_send_peer_closed, pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_recv_timeout, pair_setup, pair_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
