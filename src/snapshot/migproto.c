/* SPDX-License-Identifier: BSD-2-Clause */
#include "snapshot/migproto.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/byteorder.h"

static const char *const names[] = {
    [MIG_HELLO] = "HELLO", [MIG_OK] = "OK",	  [MIG_ERROR] = "ERROR",
    [MIG_MEM] = "MEM",	   [MIG_ZERO] = "ZERO",	  [MIG_STATE] = "STATE",
    [MIG_DONE] = "DONE",   [MIG_READY] = "READY", [MIG_COMMIT] = "COMMIT",
};

const char *mig_type_name(uint16_t type)
{
	return type >= MIG_HELLO && type <= MIG_COMMIT ? names[type] : "unknown";
}

void mig_header(uint8_t hdr[MIG_HDR], uint16_t type, uint64_t len)
{
	memcpy(hdr, MIG_MAGIC, 4);
	put_le16(hdr + 4, MIG_VERSION);
	put_le16(hdr + 6, type);
	put_le64(hdr + 8, len);
}

int mig_parse_header(const uint8_t hdr[MIG_HDR], size_t state_max, struct mig_frame *f,
		     char *err, size_t errlen)
{
	if (memcmp(hdr, MIG_MAGIC, 4) != 0) {
		snprintf(err, errlen, "not a kbhyve migration stream");
		return -EPROTO;
	}
	uint16_t v = le16_at(hdr + 4);
	if (v != MIG_VERSION) {
		snprintf(err, errlen, "migration protocol version %u, this bhyve speaks %d", v,
			 MIG_VERSION);
		return -EPROTO;
	}
	f->type = le16_at(hdr + 6);
	f->len = le64_at(hdr + 8);
	uint64_t lo = 0, hi = 0;
	switch (f->type) {
	case MIG_HELLO:
	case MIG_ERROR:
		hi = MIG_TEXT_MAX;
		break;
	case MIG_MEM:
		lo = 8 + MIG_PAGE;
		hi = 8 + MIG_MEM_MAX;
		break;
	case MIG_ZERO:
		lo = hi = 16;
		break;
	case MIG_STATE:
		hi = state_max;
		break;
	case MIG_OK:
	case MIG_DONE:
	case MIG_READY:
	case MIG_COMMIT:
		break;
	default:
		snprintf(err, errlen, "unknown migration message type %u", f->type);
		return -EPROTO;
	}
	if (f->len < lo || f->len > hi) {
		snprintf(err, errlen, "migration message %s of %llu bytes", mig_type_name(f->type),
			 (unsigned long long)f->len);
		return -EPROTO;
	}
	return 0;
}

int mig_parse_range(const struct mig_frame *f, const uint8_t *payload, uint64_t ramsize,
		    uint64_t *off, uint64_t *len, char *err, size_t errlen)
{
	*off = le64_at(payload);
	*len = f->type == MIG_ZERO ? le64_at(payload + 8) : f->len - 8;
	if (*off % MIG_PAGE || *len % MIG_PAGE || *len == 0 || *off > ramsize ||
	    *len > ramsize - *off) {
		snprintf(err, errlen, "%s of %llu bytes at %#llx is not whole pages of guest RAM",
			 mig_type_name(f->type), (unsigned long long)*len,
			 (unsigned long long)*off);
		return -EPROTO;
	}
	return 0;
}

static int send_iov(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int mig_send2(int fd, uint16_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	uint8_t hdr[MIG_HDR];
	mig_header(hdr, type, alen + blen);
	struct iovec iov[3] = {{hdr, sizeof(hdr)}, {(void *)a, alen}, {(void *)b, blen}};
	return send_iov(fd, iov, 3);
}

int mig_send(int fd, uint16_t type, const void *payload, size_t len)
{
	return mig_send2(fd, type, payload, len, NULL, 0);
}

int mig_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	while (len) {
		if (timeout_ms >= 0) {
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			int r = poll(&pf, 1, timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0)
				return -ETIMEDOUT;
		}
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
