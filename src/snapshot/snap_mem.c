/* SPDX-License-Identifier: BSD-2-Clause */
/* FILE: guest RAM, sparse (snapfile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/guestmem.h"
#include "snapshot/snapfile.h"

#define CHUNK (64u << 10) /* bytes looked at and written at once */

static bool all_zero(const uint8_t *p, size_t n)
{
	const uint64_t *w = (const uint64_t *)p; /* guest RAM is page aligned */
	for (size_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	return true;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int mem_save(const struct guestmem *gm, int fd, uint64_t *written, char *err, size_t errlen)
{
	*written = 0;
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)gm->size) < 0) {
		snprintf(err, errlen, "cannot size the memory file: %s", strerror(errno));
		return -errno;
	}
	for (uint64_t off = 0; off < gm->size; off += CHUNK) {
		size_t n = gm->size - off < CHUNK ? (size_t)(gm->size - off) : CHUNK;
		const uint8_t *p = gm->host + off;
		size_t pg = 0;
		while (pg < n) {
			size_t len = n - pg < 4096 ? n - pg : 4096;
			if (all_zero(p + pg, len)) {
				pg += len;
				continue;
			}
			/* a run of non-zero pages goes out in one write */
			size_t end = pg + len;
			while (end < n) {
				size_t l = n - end < 4096 ? n - end : 4096;
				if (all_zero(p + end, l))
					break;
				end += l;
			}
			int rc = write_all(fd, p + pg, end - pg, off + pg);
			if (rc < 0) {
				snprintf(err, errlen, "cannot write the memory file: %s",
					 strerror(-rc));
				return rc;
			}
			*written += end - pg;
			pg = end;
		}
	}
	if (fdatasync(fd) < 0) {
		snprintf(err, errlen, "cannot sync the memory file: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int mem_load(struct guestmem *gm, int fd, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the memory file is not a regular file");
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != gm->size) {
		snprintf(err, errlen, "the memory file has %lld bytes, the VM %llu",
			 (long long)st.st_size, (unsigned long long)gm->size);
		return -EINVAL;
	}
	/* only the parts with data: holes are guest pages that were zero */
	off_t off = 0;
	while ((uint64_t)off < gm->size) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: only a hole is left */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > (off_t)gm->size)
			hole = (off_t)gm->size;
		for (off_t at = data; at < hole;) {
			ssize_t r = pread(fd, gm->host + at, (size_t)(hole - at), at);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				snprintf(err, errlen, "cannot read the memory file: %s",
					 r < 0 ? strerror(errno) : "it ends early");
				return -EIO;
			}
			at += r;
		}
		off = hole;
	}
	return 0;
}
