/* SPDX-License-Identifier: BSD-2-Clause */
/* FILE.kern: named sections of device and vCPU state (snapfile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/byteorder.h"
#include "snapshot/snapfile.h"

#define KERN_MAGIC "KBHYVEK1"
#define KERN_HDR 16 /* magic, version, count */
#define SEC_HDR (SNAPFILE_NAME_LEN + 8)
#define SECTIONS_MAX 4096

static int grow(uint8_t **buf, size_t *len, size_t *cap, size_t more)
{
	if (more <= *cap - *len)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c - *len < more) {
		if (c > SIZE_MAX / 2)
			return -ENOMEM;
		c *= 2;
	}
	uint8_t *b = realloc(*buf, c);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

int kern_append(uint8_t **buf, size_t *len, size_t *cap, const char *name, const void *data,
		size_t n)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > SNAPFILE_NAME_LEN)
		return -EINVAL;
	if (*len == 0) {
		if (grow(buf, len, cap, KERN_HDR) < 0)
			return -ENOMEM;
		memcpy(*buf, KERN_MAGIC, 8);
		put_le32(*buf + 8, SNAPFILE_VERSION);
		put_le32(*buf + 12, 0);
		*len = KERN_HDR;
	}
	size_t pad = (8 - n % 8) % 8;
	if (n > SIZE_MAX - SEC_HDR - pad || grow(buf, len, cap, SEC_HDR + n + pad) < 0)
		return -ENOMEM;
	uint8_t *p = *buf + *len;
	memset(p, 0, SNAPFILE_NAME_LEN);
	memcpy(p, name, nl);
	put_le64(p + SNAPFILE_NAME_LEN, n);
	if (n)
		memcpy(p + SEC_HDR, data, n);
	memset(p + SEC_HDR + n, 0, pad);
	*len += SEC_HDR + n + pad;
	put_le32(*buf + 12, le32_at(*buf + 12) + 1);
	return 0;
}

int kern_parse(const uint8_t *buf, size_t len, struct kern_index *idx, char *err, size_t errlen)
{
	memset(idx, 0, sizeof(*idx));
	if (len < KERN_HDR || memcmp(buf, KERN_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a kbhyve state file (no KBHYVEK1 header)");
		return -EINVAL;
	}
	idx->version = le32_at(buf + 8);
	if (idx->version != SNAPFILE_VERSION) {
		snprintf(err, errlen, "state file version %u, this bhyve reads version %d",
			 idx->version, SNAPFILE_VERSION);
		return -EINVAL;
	}
	uint32_t count = le32_at(buf + 12);
	if (count > SECTIONS_MAX) {
		snprintf(err, errlen, "state file claims %u sections", count);
		return -EINVAL;
	}
	idx->sec = calloc(count ? count : 1, sizeof(*idx->sec));
	if (!idx->sec) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	size_t at = KERN_HDR;
	for (uint32_t i = 0; i < count; i++) {
		if (len - at < SEC_HDR) {
			snprintf(err, errlen, "state file truncated in section %u of %u", i + 1, count);
			goto bad;
		}
		struct kern_section *s = &idx->sec[i];
		memcpy(s->name, buf + at, SNAPFILE_NAME_LEN);
		s->name[SNAPFILE_NAME_LEN] = '\0';
		size_t nl = strnlen(s->name, SNAPFILE_NAME_LEN);
		for (size_t k = nl; k < SNAPFILE_NAME_LEN; k++)
			if (buf[at + k]) /* garbage after the name: not written by us */
				nl = 0;
		for (size_t k = 0; k < nl; k++)
			if (s->name[k] < 0x21 || s->name[k] > 0x7e)
				nl = 0;
		if (nl == 0) {
			snprintf(err, errlen, "state file section %u has a malformed name", i + 1);
			goto bad;
		}
		uint64_t n = le64_at(buf + at + SNAPFILE_NAME_LEN);
		at += SEC_HDR;
		uint64_t pad = (8 - n % 8) % 8;
		if (n > len - at || pad > len - at - n) {
			snprintf(err, errlen, "state file truncated in section %s", s->name);
			goto bad;
		}
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(idx->sec[j].name, s->name) == 0) {
				snprintf(err, errlen, "state file has section %s twice", s->name);
				goto bad;
			}
		s->data = buf + at;
		s->len = n;
		s->offset = at;
		at += n + pad;
	}
	if (at != len) {
		snprintf(err, errlen, "state file has %zu bytes after its last section", len - at);
		goto bad;
	}
	idx->count = count;
	return 0;
bad:
	kern_index_free(idx);
	return -EINVAL;
}

const struct kern_section *kern_find(const struct kern_index *idx, const char *name)
{
	for (uint32_t i = 0; i < idx->count; i++)
		if (strcmp(idx->sec[i].name, name) == 0)
			return &idx->sec[i];
	return NULL;
}

void kern_index_free(struct kern_index *idx)
{
	free(idx->sec);
	memset(idx, 0, sizeof(*idx));
}
