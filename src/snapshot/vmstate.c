/* SPDX-License-Identifier: BSD-2-Clause */
#include "snapshot/vmstate.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "core/vm.h"
#include "snapshot/kvmstate.h"
#include "snapshot/snapbuf.h"
#include "snapshot/snapreg.h"

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys of a "key=value" line that name host resources, not the guest's machine: the snapshot
 * itself (restore.*), a NIC's backend (vm gives a guest the first free tap, which may be another
 * one after a resume or on another host) and a file's or device's path (a disk image moved, a
 * console's pty). The guest sees none of them. */
static bool host_side_key(const char *line)
{
	size_t klen = strcspn(line, "=");
	const char *dot = memrchr(line, '.', klen);
	const char *last = dot ? dot + 1 : line;
	size_t llen = klen - (size_t)(last - line);
	return strncmp(line, "restore.", 8) == 0 || strncmp(line, "migrate.", 8) == 0 || (llen == 7 && !strncmp(last, "backend", 7)) ||
	       (llen == 4 && !strncmp(last, "path", 4));
}

char *vmstate_config_text(struct vm *vm)
{
	char *raw = NULL;
	size_t rawlen = 0;
	FILE *f = open_memstream(&raw, &rawlen);
	if (!f)
		return NULL;
	config_dump(vm->cfg, f);
	if (fclose(f) != 0) {
		free(raw);
		return NULL;
	}
	/* sorted: the same options in another order make the same VM */
	size_t n = 0;
	for (char *p = raw; *p; p++)
		n += *p == '\n';
	char **lines = calloc(n + 1, sizeof(*lines));
	char *out = malloc(rawlen + 1);
	if (!lines || !out) {
		free(lines);
		free(out);
		free(raw);
		return NULL;
	}
	size_t k = 0;
	for (char *save = NULL, *l = strtok_r(raw, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!host_side_key(l) && k < n)
			lines[k++] = l;
	qsort(lines, k, sizeof(*lines), cmp_lines);
	size_t at = 0;
	for (size_t i = 0; i < k; i++)
		at += (size_t)sprintf(out + at, "%s\n", lines[i]);
	out[at] = '\0';
	free(lines);
	free(raw);
	return out;
}

void vmstate_cpuid_digest(struct vm *vm, char hex[65])
{
	const struct kvm_cpuid2 *c = vm->cpuid;
	snapfile_sha256(c, sizeof(*c) + c->nent * sizeof(c->entries[0]), hex);
}

const struct snapshot_entry *vmstate_unsupported(struct vm *vm)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (!e->ops)
			return e;
	return NULL;
}

void vmstate_pause(struct vm *vm)
{
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops->pause)
			e->ops->pause(e->opaque);
}

void vmstate_resume(struct vm *vm)
{
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops && e->ops->resume)
			e->ops->resume(e->opaque);
}

const struct snapshot_entry *vmstate_busy(struct vm *vm)
{
	for (const struct snapshot_entry *e = vm->snapshots; e; e = e->next)
		if (e->ops->drained && !e->ops->drained(e->opaque))
			return e;
	return NULL;
}

/* The first line where two configurations differ, for the refusal. */
static void first_difference(const char *a, const char *b, char *out, size_t outlen)
{
	while (*a || *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
		if (la != lb || memcmp(a, b, la) != 0) {
			snprintf(out, outlen, "the snapshot has '%.*s', this VM '%.*s'",
				 (int)(la > 70 ? 70 : la), a, (int)(lb > 70 ? 70 : lb), b);
			return;
		}
		a += la + (a[la] == '\n');
		b += lb + (b[lb] == '\n');
	}
	snprintf(out, outlen, "they differ");
}

int vmstate_check_meta(struct vm *vm, const struct snap_meta *m, char *err, size_t errlen)
{
	const char *name = vm->name ? vm->name : "";
	if (strcmp(m->name, name) != 0) {
		snprintf(err, errlen, "the snapshot is of VM '%s', not '%s'", m->name, name);
		return -EINVAL;
	}
	if (m->memsize != vm->mem.size || m->lowmem != vm->mem.lowmem ||
	    m->highmem != vm->mem.highmem || m->ncpus != vm->nvcpus) {
		snprintf(err, errlen,
			 "the snapshot has %llu MiB and %d vCPUs, this VM %llu MiB and %d vCPUs",
			 (unsigned long long)(m->memsize >> 20), m->ncpus,
			 (unsigned long long)(vm->mem.size >> 20), vm->nvcpus);
		return -EINVAL;
	}
	char *config = vmstate_config_text(vm);
	if (!config) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	if (strcmp(config, m->config) != 0) {
		char diff[200];
		first_difference(m->config, config, diff, sizeof(diff));
		snprintf(err, errlen, "the snapshot was taken with another configuration: %s",
			 diff);
		rc = -EINVAL;
	}
	free(config);
	if (rc)
		return rc;
	char cpuid[65];
	vmstate_cpuid_digest(vm, cpuid);
	if (strcmp(cpuid, m->cpuid) != 0) {
		snprintf(err, errlen, "the snapshot was taken on a host whose CPU offers other "
				      "features (CPUID differs)");
		return -EINVAL;
	}
	uint32_t khz = kvmstate_tsc_khz(vm);
	/* a TSC more than 250 ppm off is scaled, where the host can (QEMU's and Firecracker's
	 * tolerance) */
	if (m->tsc_khz && khz && (uint64_t)(m->tsc_khz > khz ? m->tsc_khz - khz : khz - m->tsc_khz) *
					 4000 > khz) {
		rc = kvmstate_set_tsc_khz(vm, m->tsc_khz);
		if (rc) {
			snprintf(err, errlen,
				 "the snapshot's TSC ran at %u kHz, this host's at %u kHz, and KVM "
				 "cannot scale it: %s",
				 m->tsc_khz, khz, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int load_sections(struct vm *vm, const struct kern_index *idx, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < idx->count; i++) {
		bool known = false;
		for (struct snapshot_entry *e = vm->snapshots; e && !known; e = e->next)
			known = strcmp(e->name, idx->sec[i].name) == 0;
		if (!known) {
			snprintf(err, errlen, "the snapshot has state for %s, which this VM lacks",
				 idx->sec[i].name);
			return -EINVAL;
		}
	}
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next) {
		if (!e->ops) {
			snprintf(err, errlen, "%s: %s", e->name, e->why);
			return -ENOTSUP;
		}
		const struct kern_section *sec = kern_find(idx, e->name);
		if (!sec) {
			snprintf(err, errlen, "the snapshot has no state for %s", e->name);
			return -EINVAL;
		}
		struct snap *s = snap_new_load(e->name, sec->data, sec->len);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->ops->visit(s, e->opaque);
		int rc = snap_finish(s, err, errlen);
		snap_free(s);
		if (rc)
			return rc;
	}
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next) {
		if (e->ops->restored) {
			int rc = e->ops->restored(e->opaque, err, errlen);
			if (rc)
				return rc;
		}
	}
	return 0;
}


int vmstate_load_kern(struct vm *vm, const uint8_t *kern, size_t klen, char *err, size_t errlen)
{
	struct kern_index idx;
	int rc = kern_parse(kern, klen, &idx, err, errlen);
	if (rc == 0)
		rc = load_sections(vm, &idx, err, errlen);
	kern_index_free(&idx);
	return rc;
}

int vmstate_save_kern(struct vm *vm, uint8_t **kern, size_t *klen, char *err, size_t errlen)
{
	size_t kcap = 0;
	*kern = NULL;
	*klen = 0;
	for (struct snapshot_entry *e = vm->snapshots; e; e = e->next) {
		struct snap *s = snap_new_save(e->name);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->ops->visit(s, e->opaque);
		int rc = snap_finish(s, err, errlen);
		size_t n;
		const void *d = snap_data(s, &n);
		if (rc == 0 && kern_append(kern, klen, &kcap, e->name, d, n) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
		snap_free(s);
		if (rc) {
			free(*kern);
			*kern = NULL;
			return rc;
		}
	}
	return 0;
}

char *vmstate_meta_text(struct vm *vm, const uint8_t *kern, size_t klen)
{
	struct kern_index idx = {0};
	char msg[200];
	if (kern && kern_parse(kern, klen, &idx, msg, sizeof(msg)) < 0)
		return NULL;
	char *config = vmstate_config_text(vm);
	char *text = NULL;
	if (config) {
		struct snap_meta m = {
		    .name = (char *)(vm->name ? vm->name : ""),
		    .memsize = vm->mem.size,
		    .lowmem = vm->mem.lowmem,
		    .highmem = vm->mem.highmem,
		    .ncpus = vm->nvcpus,
		    .config = config,
		    .tsc_khz = kvmstate_tsc_khz(vm),
		    .kern_size = klen,
		    .created = (int64_t)time(NULL),
		    .sections = &idx,
		};
		vmstate_cpuid_digest(vm, m.cpuid);
		if (kern)
			snapfile_sha256(kern, klen, m.kern_sha256);
		else
			memset(m.kern_sha256, '0', 64);
		text = meta_format(&m);
	}
	free(config);
	kern_index_free(&idx);
	return text;
}
