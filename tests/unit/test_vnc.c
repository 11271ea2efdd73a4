/* SPDX-License-Identifier: BSD-2-Clause */
/* The VNC server's pure parts: the client message filter in front of the VNC library, and VNC
 * authentication's DES response. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vnc/rfb_filter.h"
#include "vnc/vnc_auth.h"

struct sink {
	uint8_t buf[1 << 16];
	struct rfb_out out;
};

static void sink_init(struct sink *s)
{
	s->out = (struct rfb_out){s->buf, 0, sizeof(s->buf)};
}

/* Feed the bytes in chunks of `step` (1: byte by byte, as a slow network delivers them). */
static int feed(struct rfb_filter *f, struct sink *s, const uint8_t *p, size_t n, size_t step,
		const char **why)
{
	for (size_t i = 0; i < n; i += step) {
		size_t k = n - i < step ? n - i : step;
		int rc = rfb_filter_feed(f, p + i, k, &s->out, why);
		if (rc)
			return rc;
	}
	return 0;
}

static const uint8_t good[] = {
    /* SetPixelFormat: 32 bpp, depth 24, true colour, shifts 16/8/0 */
    0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
    /* SetEncodings: Raw, DesktopSize */
    2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21,
    /* FramebufferUpdateRequest */
    3, 1, 0, 0, 0, 0, 4, 0, 3, 0,
    /* KeyEvent 'a' down */
    4, 1, 0, 0, 0, 0, 0, 0x61,
    /* PointerEvent */
    5, 1, 0, 10, 0, 20,
    /* QEMU extended key event */
    255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e,
};

static void test_filter_passes_valid_messages(void **state)
{
	for (size_t step = 1; step <= sizeof(good); step += step < 8 ? 1 : 17) {
		struct rfb_filter f = {0};
		struct sink s;
		sink_init(&s);
		const char *why;
		assert_int_equal(feed(&f, &s, good, sizeof(good), step, &why), 0);
		assert_int_equal(s.out.len, sizeof(good));
		assert_memory_equal(s.buf, good, sizeof(good));
		assert_int_equal(f.messages, 6);
	}
}

static void test_filter_swallows_cut_text(void **state)
{
	/* a cut text of 100 bytes between two key events: the text never passes */
	uint8_t msg[8 + 8 + 100 + 8];
	const uint8_t key[8] = {4, 1, 0, 0, 0, 0, 0, 0x62};
	memcpy(msg, key, 8);
	const uint8_t hdr[8] = {6, 0, 0, 0, 0, 0, 0, 100};
	memcpy(msg + 8, hdr, 8);
	memset(msg + 16, 'x', 100);
	memcpy(msg + 116, key, 8);
	for (size_t step = 1; step < sizeof(msg); step += 13) {
		struct rfb_filter f = {0};
		struct sink s;
		sink_init(&s);
		const char *why;
		assert_int_equal(feed(&f, &s, msg, sizeof(msg), step, &why), 0);
		assert_int_equal(s.out.len, 16);
		assert_memory_equal(s.buf, key, 8);
		assert_memory_equal(s.buf + 8, key, 8);
	}
	/* an oversized one (2 GiB announced) is consumed as it comes, never stored */
	struct rfb_filter f = {0};
	struct sink s;
	sink_init(&s);
	const char *why;
	const uint8_t huge[8] = {6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
	assert_int_equal(feed(&f, &s, huge, 8, 8, &why), 0);
	static uint8_t junk[1 << 16];
	memset(junk, 4, sizeof(junk)); /* would be key events if not swallowed */
	for (int i = 0; i < 16; i++)
		assert_int_equal(feed(&f, &s, junk, sizeof(junk), sizeof(junk), &why), 0);
	assert_int_equal(s.out.len, 0);
	assert_int_equal(f.skip, 0x7fffffffu - 16u * sizeof(junk));
}

static void test_filter_caps_encodings(void **state)
{
	/* 1000 encodings: 32 pass with a corrected count, the rest are dropped, and the next message
	 * is still read as a message */
	size_t n = 4 + 4 * 1000 + 8;
	uint8_t *m = calloc(1, n);
	m[0] = 2;
	m[2] = 1000 >> 8;
	m[3] = 1000 & 0xff;
	for (int i = 0; i < 1000; i++)
		m[4 + 4 * i + 3] = (uint8_t)i;
	const uint8_t key[8] = {4, 0, 0, 0, 0, 0, 0, 0x63};
	memcpy(m + 4 + 4000, key, 8);
	for (size_t step = 1; step < 300; step += 97) {
		struct rfb_filter f = {0};
		struct sink s;
		sink_init(&s);
		const char *why;
		assert_int_equal(feed(&f, &s, m, n, step, &why), 0);
		assert_int_equal(s.out.len, 4 + 4 * 32 + 8);
		assert_int_equal(s.buf[3], 32);
		assert_memory_equal(s.buf + 4, m + 4, 4 * 32);
		assert_memory_equal(s.buf + 4 + 128, key, 8);
	}
	free(m);
}

static void test_filter_refuses_bad_messages(void **state)
{
	static const struct {
		uint8_t msg[20];
		size_t len;
	} bad[] = {
	    {{1, 0, 0, 0}, 4},		     /* type 1: not a client message */
	    {{7}, 1},			     /* unknown */
	    {{250, 0, 0, 0}, 4},	     /* xvp: not handled by the library */
	    {{255, 1, 0, 0}, 4},	     /* QEMU audio */
	    {{0, 0, 0, 0, 8, 8, 0, 0}, 20},  /* colour map */
	    {{0, 0, 0, 0, 24, 24, 0, 1}, 20}, /* 24 bpp */
	    {{0, 0, 0, 0, 16, 24, 0, 1}, 20}, /* depth > bpp */
	    {{0, 0, 0, 0, 16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 40, 5, 0}, 20}, /* shift >= bpp */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rfb_filter f = {0};
		struct sink s;
		sink_init(&s);
		const char *why = NULL;
		/* after a valid key event, so that the refusal is not an artefact of the start */
		const uint8_t key[8] = {4, 0, 0, 0, 0, 0, 0, 0x63};
		assert_int_equal(feed(&f, &s, key, 8, 8, &why), 0);
		assert_int_equal(feed(&f, &s, bad[i].msg, bad[i].len, 1, &why), -EPROTO);
		assert_non_null(why);
		assert_int_equal(s.out.len, 8);
	}
}

static void test_vnc_auth(void **state)
{
	/* known answer: RFB's DES with mirrored key bits, as viewers compute it (checked against an
	 * independent implementation, tests/vnc/vncclient.py) */
	uint8_t ch[16], r[16];
	for (int i = 0; i < 16; i++)
		ch[i] = (uint8_t)(i * 7);
	vnc_auth_response("secret", ch, r);
	static const uint8_t want[16] = {0x00, 0x7d, 0xf6, 0x78, 0xa6, 0x36, 0x26, 0xe8,
					 0xe3, 0xe9, 0xcd, 0x63, 0x77, 0xd7, 0x2d, 0xe6};
	assert_memory_equal(r, want, 16);
	assert_true(vnc_auth_check("secret", ch, r));
	assert_false(vnc_auth_check("secreT", ch, r));
	r[15] ^= 1;
	assert_false(vnc_auth_check("secret", ch, r));
	/* only 8 characters count, as in every VNC viewer */
	vnc_auth_response("password", ch, r);
	assert_true(vnc_auth_check("password-and-more", ch, r));
	/* an empty password is a (weak) key like any other */
	vnc_auth_response("", ch, r);
	assert_true(vnc_auth_check("", ch, r));
	assert_false(vnc_auth_check("x", ch, r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_filter_passes_valid_messages),
	    cmocka_unit_test(test_filter_swallows_cut_text),
	    cmocka_unit_test(test_filter_caps_encodings),
	    cmocka_unit_test(test_filter_refuses_bad_messages),
	    cmocka_unit_test(test_vnc_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
