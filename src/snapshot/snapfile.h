/* SPDX-License-Identifier: BSD-2-Clause */
/* The three files of a snapshot (bhyve's layout, kbhyve's contents):
 *   FILE       guest RAM: low memory at offset 0, memory above 4 GiB right after; zero pages are
 *              holes (a sparse file)
 *   FILE.kern  "KBHYVEK1", u32 version, u32 section count, then per section a 48-byte
 *              NUL-padded name, a u64 length, the bytes and zero padding to 8 (little-endian)
 *   FILE.meta  JSON: format and version, the VM (name, memory, vCPUs, configuration), the host
 *              CPU it ran on (CPUID digest, TSC frequency), the .kern file's SHA-256 and its
 *              section table
 * The parsers take untrusted bytes: every length and offset is checked. */
#ifndef KB_SNAPFILE_H
#define KB_SNAPFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPFILE_FORMAT "kbhyve-kvm-x86"
#define SNAPFILE_VERSION 1
#define SNAPFILE_KERN_MAX (256u << 20) /* a .kern larger than this is not ours */
#define SNAPFILE_NAME_LEN 48

struct guestmem;

/* ---- FILE.kern ---- */

struct kern_section {
	char name[SNAPFILE_NAME_LEN + 1];
	const uint8_t *data;
	uint64_t len, offset; /* offset of data in the file */
};

struct kern_index {
	uint32_t version;
	uint32_t count;
	struct kern_section *sec;
};

/* Append one section to a growing image (buf/len/cap, malloc'd); a new image gets its header
 * first. 0 or -ENOMEM / -EINVAL (name too long). */
int kern_append(uint8_t **buf, size_t *len, size_t *cap, const char *name, const void *data,
		size_t n);
/* Index an image (the data stays in buf). 0, or -EINVAL with one line in err. */
int kern_parse(const uint8_t *buf, size_t len, struct kern_index *idx, char *err, size_t errlen);
const struct kern_section *kern_find(const struct kern_index *idx, const char *name);
void kern_index_free(struct kern_index *idx);

/* ---- FILE.meta ---- */

struct snap_meta {
	char *name;
	uint64_t memsize, lowmem, highmem;
	int ncpus;
	char *config;	     /* the configuration dump */
	char cpuid[65];	     /* SHA-256 of the CPUID table KVM offers, hex */
	uint32_t tsc_khz;    /* 0: unknown */
	char kern_sha256[65];
	uint64_t kern_size;
	int64_t created;     /* seconds since the epoch */
	const struct kern_index *sections; /* writing only: the section table */
};

/* The JSON text (malloc'd) or NULL without memory. */
char *meta_format(const struct snap_meta *m);
/* Parse and check the format and version. 0, or -EINVAL with one line in err ("not a kbhyve
 * snapshot", "written by a newer kbhyve (format version N)", a missing or mistyped key). */
int meta_parse(const char *text, size_t len, struct snap_meta *m, char *err, size_t errlen);
void meta_free(struct snap_meta *m);

/* SHA-256 as 64 hex digits and a NUL. */
void snapfile_sha256(const void *data, size_t len, char hex[65]);

/* ---- FILE (guest RAM) ---- */

/* Write guest RAM to fd (an empty file): the file is sized first, then only pages that are not
 * all zero are written. *written: bytes of data written. 0 or -errno with one line in err. */
int mem_save(const struct guestmem *gm, int fd, uint64_t *written, char *err, size_t errlen);
/* Read guest RAM back (the file must be exactly the RAM's size; holes stay zero). 0 or -errno
 * with one line in err. */
int mem_load(struct guestmem *gm, int fd, char *err, size_t errlen);

#endif
