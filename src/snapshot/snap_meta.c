/* SPDX-License-Identifier: BSD-2-Clause */
/* FILE.meta: the snapshot's description in JSON (snapfile.h), with jansson (MIT). */
#include <errno.h>
#include <jansson.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapfile.h"

void snapfile_sha256(const void *data, size_t len, char hex[65])
{
	struct sha256_ctx ctx;
	uint8_t d[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(d), d);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

char *meta_format(const struct snap_meta *m)
{
	json_t *secs = json_array();
	for (uint32_t i = 0; secs && m->sections && i < m->sections->count; i++) {
		const struct kern_section *s = &m->sections->sec[i];
		json_array_append_new(secs, json_pack("{s:s, s:I, s:I}", "name", s->name, "offset",
						      (json_int_t)s->offset, "size",
						      (json_int_t)s->len));
	}
	json_t *o = json_pack(
	    "{s:s, s:i, s:{s:s, s:I, s:I, s:I, s:i, s:s}, s:{s:s, s:I}, s:{s:s, s:I}, s:I, s:o}",
	    "format", SNAPFILE_FORMAT, "version", SNAPFILE_VERSION,
	    "vm", "name", m->name ? m->name : "", "memsize", (json_int_t)m->memsize, "lowmem",
	    (json_int_t)m->lowmem, "highmem", (json_int_t)m->highmem, "ncpus", m->ncpus,
	    "config", m->config ? m->config : "",
	    "host", "cpuid_sha256", m->cpuid, "tsc_khz", (json_int_t)m->tsc_khz,
	    "kern", "sha256", m->kern_sha256, "size", (json_int_t)m->kern_size,
	    "created", (json_int_t)m->created, "sections", secs);
	if (!o)
		return NULL;
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

static int copy_hex(char dst[65], const char *src)
{
	if (strlen(src) != 64 || strspn(src, "0123456789abcdef") != 64)
		return -1;
	memcpy(dst, src, 65);
	return 0;
}

int meta_parse(const char *text, size_t len, struct snap_meta *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		snprintf(err, errlen, "not JSON (line %d: %s)", je.line, je.text);
		return -EINVAL;
	}
	const char *format = NULL;
	json_int_t version = 0;
	if (json_unpack(o, "{s:s, s:I}", "format", &format, "version", &version) < 0 ||
	    strcmp(format, SNAPFILE_FORMAT) != 0) {
		snprintf(err, errlen, "not a kbhyve snapshot (format is not \"%s\")",
			 SNAPFILE_FORMAT);
		goto bad;
	}
	if (version != SNAPFILE_VERSION) {
		snprintf(err, errlen, "snapshot format version %lld, this bhyve reads version %d",
			 (long long)version, SNAPFILE_VERSION);
		goto bad;
	}
	const char *name, *config, *cpuid, *sha;
	json_int_t memsize, lowmem, highmem, ncpus, tsc, ksize, created;
	if (json_unpack_ex(o, &je, 0,
			   "{s:{s:s, s:I, s:I, s:I, s:I, s:s}, s:{s:s, s:I}, s:{s:s, s:I}, s:I}",
			   "vm", "name", &name, "memsize", &memsize, "lowmem", &lowmem, "highmem",
			   &highmem, "ncpus", &ncpus, "config", &config, "host", "cpuid_sha256",
			   &cpuid, "tsc_khz", &tsc, "kern", "sha256", &sha, "size", &ksize,
			   "created", &created) < 0) {
		snprintf(err, errlen, "%s", je.text);
		goto bad;
	}
	if (memsize <= 0 || lowmem < 0 || highmem < 0 || lowmem > memsize ||
	    highmem != memsize - lowmem || ncpus < 1 || ncpus > 4096 || tsc < 0 ||
	    tsc > UINT32_MAX || ksize < 0 || copy_hex(m->cpuid, cpuid) < 0 ||
	    copy_hex(m->kern_sha256, sha) < 0) {
		snprintf(err, errlen, "a value is out of range");
		goto bad;
	}
	m->name = strdup(name);
	m->config = strdup(config);
	if (!m->name || !m->config) {
		snprintf(err, errlen, "out of memory");
		goto bad;
	}
	m->memsize = (uint64_t)memsize;
	m->lowmem = (uint64_t)lowmem;
	m->highmem = (uint64_t)highmem;
	m->ncpus = (int)ncpus;
	m->tsc_khz = (uint32_t)tsc;
	m->kern_size = (uint64_t)ksize;
	m->created = created;
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	meta_free(m);
	return -EINVAL;
}

void meta_free(struct snap_meta *m)
{
	free(m->name);
	free(m->config);
	m->name = m->config = NULL;
}
