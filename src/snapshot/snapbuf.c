/* SPDX-License-Identifier: BSD-2-Clause */
#include "snapshot/snapbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/byteorder.h"

struct snap {
	char name[SNAP_NAME_MAX + 1];
	bool loading;
	uint8_t *buf; /* saving: owned, grows; loading: the caller's */
	size_t len, cap, pos;
	bool nomem;
	char why[160]; /* the first problem, "" when none */
};

static struct snap *snap_alloc(const char *name, bool loading)
{
	struct snap *s = calloc(1, sizeof(*s));
	if (s) {
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->loading = loading;
	}
	return s;
}

struct snap *snap_new_save(const char *name)
{
	return snap_alloc(name, false);
}

struct snap *snap_new_load(const char *name, const void *data, size_t len)
{
	struct snap *s = snap_alloc(name, true);
	if (s) {
		s->buf = (uint8_t *)data;
		s->len = len;
	}
	return s;
}

const void *snap_data(const struct snap *s, size_t *len)
{
	*len = s->len;
	return s->buf;
}

void snap_free(struct snap *s)
{
	if (s && !s->loading)
		free(s->buf);
	free(s);
}

bool snap_loading(const struct snap *s)
{
	return s->loading;
}

bool snap_failed(const struct snap *s)
{
	return s->why[0] || s->nomem;
}

void snap_fail(struct snap *s, const char *fmt, ...)
{
	if (s->why[0])
		return; /* the first problem is the one reported */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

bool snap_check(struct snap *s, bool ok, const char *what)
{
	if (s->loading && !ok)
		snap_fail(s, "%s out of range", what);
	return ok || !s->loading;
}

void snap_bytes(struct snap *s, void *p, size_t n)
{
	if (n == 0)
		return; /* p may be NULL (a device without config space), as may the buffer */
	if (s->loading) {
		if (snap_failed(s))
			return;
		if (n > s->len - s->pos) {
			snap_fail(s, "state ends early (%zu bytes)", s->len);
			return;
		}
		memcpy(p, s->buf + s->pos, n);
		s->pos += n;
		return;
	}
	if (s->nomem)
		return;
	if (n > s->cap - s->len) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap - s->len < n)
			cap *= 2;
		uint8_t *b = realloc(s->buf, cap);
		if (!b) {
			s->nomem = true;
			return;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

/* Values are stored little-endian whatever the host. */
void snap_u8(struct snap *s, uint8_t *v)
{
	snap_bytes(s, v, 1);
}

void snap_u16(struct snap *s, uint16_t *v)
{
	uint8_t b[2];
	put_le16(b, *v);
	snap_bytes(s, b, sizeof(b));
	if (s->loading && !snap_failed(s))
		*v = le16_at(b);
}

void snap_u32(struct snap *s, uint32_t *v)
{
	uint8_t b[4];
	put_le32(b, *v);
	snap_bytes(s, b, sizeof(b));
	if (s->loading && !snap_failed(s))
		*v = le32_at(b);
}

void snap_u64(struct snap *s, uint64_t *v)
{
	uint8_t b[8];
	put_le64(b, *v);
	snap_bytes(s, b, sizeof(b));
	if (s->loading && !snap_failed(s))
		*v = le64_at(b);
}

void snap_i64(struct snap *s, int64_t *v)
{
	uint64_t u = (uint64_t)*v;
	snap_u64(s, &u);
	*v = (int64_t)u;
}

void snap_bool(struct snap *s, bool *v)
{
	uint8_t b = *v ? 1 : 0;
	snap_u8(s, &b);
	if (snap_check(s, b <= 1, "a boolean"))
		*v = b;
}

void snap_uint(struct snap *s, unsigned *v)
{
	uint32_t u = *v;
	snap_u32(s, &u);
	*v = u;
}

void snap_int(struct snap *s, int *v)
{
	uint32_t u = (uint32_t)*v;
	snap_u32(s, &u);
	*v = (int)u;
}

int snap_finish(const struct snap *s, char *err, size_t errlen)
{
	if (s->nomem) {
		snprintf(err, errlen, "%s: out of memory", s->name);
		return -ENOMEM;
	}
	if (s->why[0]) {
		snprintf(err, errlen, "%s: %s", s->name, s->why);
		return -EINVAL;
	}
	if (s->loading && s->pos != s->len) {
		snprintf(err, errlen, "%s: %zu bytes of state, this device takes %zu", s->name,
			 s->len, s->pos);
		return -EINVAL;
	}
	return 0;
}
