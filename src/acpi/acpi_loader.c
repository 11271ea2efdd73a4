/* SPDX-License-Identifier: BSD-2-Clause */
/* QEMU's ACPI linker/loader script for fw_cfg firmware (see acpi_loader.h).
 *
 * The tables are built by acpi_build() as if they lived at guest address 0, so every pointer
 * field already holds an offset into the blob; this file then walks them from the RSDP (RSDT and
 * XSDT entries, the FADT's FACS and DSDT) and emits, in this order: the two ALLOCATEs, one
 * ADD_POINTER per non-zero pointer field, one ADD_CHECKSUM per table and two for the RSDP. The
 * firmware computes each checksum over bytes that include the checksum field itself, so those
 * fields are zeroed here, and checksums come after every pointer is patched. */
#include "acpi/acpi_loader.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/byteorder.h"

#define HDR_LEN 36
#define HDR_CHECKSUM 9
#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define RSDP_CHECKSUM 8
#define RSDP_RSDT 16
#define RSDP_EXT_CHECKSUM 32
#define RSDP_XSDT 24
/* FADT fields that point at other tables (ACPI 6.x, 5.2.9) */
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define MAX_TABLES 16
#define MAX_ENTRIES 64

struct script {
	uint8_t *buf;
	size_t n; /* entries */
};

static uint8_t *entry(struct script *s, uint32_t command)
{
	if (s->n == MAX_ENTRIES)
		return NULL;
	uint8_t *e = s->buf + s->n++ * ACPI_LOADER_ENTRY;
	put_le32(e, command);
	return e + 4;
}

static void put_name(uint8_t *dst, const char *name)
{
	strncpy((char *)dst, name, ACPI_LOADER_NAME - 1);
}

static int allocate(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *e = entry(s, ACPI_LOADER_ALLOCATE);
	if (!e)
		return -ENOSPC;
	put_name(e, file);
	put_le32(e + ACPI_LOADER_NAME, align);
	e[ACPI_LOADER_NAME + 4] = zone;
	return 0;
}

static int add_pointer(struct script *s, const char *ptr_file, const char *pointee, uint32_t off,
		       uint8_t size)
{
	uint8_t *e = entry(s, ACPI_LOADER_ADD_POINTER);
	if (!e)
		return -ENOSPC;
	put_name(e, ptr_file);
	put_name(e + ACPI_LOADER_NAME, pointee);
	put_le32(e + 2 * ACPI_LOADER_NAME, off);
	e[2 * ACPI_LOADER_NAME + 4] = size;
	return 0;
}

static int add_checksum(struct script *s, const char *file, uint32_t result, uint32_t start,
			uint32_t len)
{
	uint8_t *e = entry(s, ACPI_LOADER_ADD_CHECKSUM);
	if (!e)
		return -ENOSPC;
	put_name(e, file);
	put_le32(e + ACPI_LOADER_NAME, result);
	put_le32(e + ACPI_LOADER_NAME + 4, start);
	put_le32(e + ACPI_LOADER_NAME + 8, len);
	return 0;
}

struct walk {
	const uint8_t *blob;
	size_t len;
	uint32_t tables[MAX_TABLES]; /* offsets of the tables found, each once */
	int ntables;
};

/* The table at offset off, if a whole header and its length fit in the blob. */
static bool table_at(const struct walk *w, uint64_t off, uint32_t *len)
{
	if (off == 0 || off > w->len || w->len - off < HDR_LEN)
		return false;
	uint32_t l = le32_at(w->blob + off + 4);
	if (memcmp(w->blob + off, "FACS", 4) == 0)
		l = l < HDR_LEN ? HDR_LEN : l; /* FACS: a length but no checksummed header */
	if (l < HDR_LEN || l > w->len - off)
		return false;
	*len = l;
	return true;
}

static int note_table(struct walk *w, uint64_t off)
{
	uint32_t len;
	if (!table_at(w, off, &len))
		return -EINVAL;
	for (int i = 0; i < w->ntables; i++)
		if (w->tables[i] == off)
			return 0;
	if (w->ntables == MAX_TABLES)
		return -ENOSPC;
	w->tables[w->ntables++] = (uint32_t)off;
	return 0;
}

/* Has the script already a pointer patch of the tables blob at `field`? (The FADT is listed in
 * both the RSDT and the XSDT; patching its fields twice would add the base twice.) */
static bool patched(const struct script *s, uint32_t field)
{
	for (size_t i = 0; i < s->n; i++) {
		const uint8_t *e = s->buf + i * ACPI_LOADER_ENTRY;
		if (le32_at(e) == ACPI_LOADER_ADD_POINTER &&
		    strcmp((const char *)e + 4, ACPI_LOADER_TABLES_FILE) == 0 &&
		    le32_at(e + 4 + 2 * ACPI_LOADER_NAME) == field)
			return true;
	}
	return false;
}

/* The pointer field of `size` bytes at `field` in the tables blob: patched by the firmware if
 * set, and what it points at is a table to checksum. */
static int tables_pointer(struct script *s, struct walk *w, uint32_t field, uint8_t size)
{
	uint64_t v = size == 8 ? le64_at(w->blob + field) : le32_at(w->blob + field);
	if (v == 0 || patched(s, field))
		return 0; /* not set (offset 0 holds no table), or already patched */
	int rc = note_table(w, v);
	if (rc == 0)
		rc = add_pointer(s, ACPI_LOADER_TABLES_FILE, ACPI_LOADER_TABLES_FILE, field, size);
	return rc;
}

/* RSDT (4-byte) or XSDT (8-byte) entries, and for the FADT among them its FACS and DSDT. */
static int sdt_entries(struct script *s, struct walk *w, uint32_t sdt, uint8_t size)
{
	uint32_t len;
	if (!table_at(w, sdt, &len))
		return -EINVAL;
	for (uint32_t f = sdt + HDR_LEN; f + size <= sdt + len; f += size) {
		int rc = tables_pointer(s, w, f, size);
		if (rc)
			return rc;
		uint64_t t = size == 8 ? le64_at(w->blob + f) : le32_at(w->blob + f);
		uint32_t tl;
		if (!table_at(w, t, &tl) || memcmp(w->blob + t, "FACP", 4) != 0)
			continue;
		static const struct {
			uint32_t off;
			uint8_t size;
		} fields[] = {{FADT_FIRMWARE_CTRL, 4},
			      {FADT_DSDT, 4},
			      {FADT_X_FIRMWARE_CTRL, 8},
			      {FADT_X_DSDT, 8}};
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (fields[i].off + fields[i].size > tl)
				continue;
			rc = tables_pointer(s, w, (uint32_t)t + fields[i].off, fields[i].size);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int acpi_loader_build(const struct acpi_platform *p, struct acpi_loader_blobs *out)
{
	memset(out, 0, sizeof(*out));
	uint8_t *blob = calloc(1, ACPI_TABLES_MAX);
	struct script s = {.buf = calloc(MAX_ENTRIES, ACPI_LOADER_ENTRY)};
	if (!blob || !s.buf) {
		free(blob);
		free(s.buf);
		return -ENOMEM;
	}
	uint64_t rsdp = 0;
	long used = acpi_build(p, blob, 0, ACPI_TABLES_MAX, &rsdp);
	int rc = used < 0 ? (int)used : 0;
	if (rc == 0 && (rsdp > (uint64_t)used || (uint64_t)used - rsdp < RSDP_LEN))
		rc = -EINVAL;
	struct walk w = {.blob = blob, .len = used > 0 ? (size_t)used : 0};
	if (rc == 0) {
		memcpy(out->rsdp, blob + rsdp, RSDP_LEN);
		memset(blob + rsdp, 0, RSDP_LEN); /* only the RSDP file is the RSDP */
		rc = allocate(&s, ACPI_LOADER_RSDP_FILE, 16, ACPI_LOADER_ZONE_FSEG);
	}
	if (rc == 0)
		rc = allocate(&s, ACPI_LOADER_TABLES_FILE, 64, ACPI_LOADER_ZONE_HIGH);
	uint32_t rsdt = le32_at(out->rsdp + RSDP_RSDT);
	uint64_t xsdt = le64_at(out->rsdp + RSDP_XSDT);
	if (rc == 0 && rsdt) {
		rc = note_table(&w, rsdt);
		if (rc == 0)
			rc = add_pointer(&s, ACPI_LOADER_RSDP_FILE, ACPI_LOADER_TABLES_FILE,
					 RSDP_RSDT, 4);
		if (rc == 0)
			rc = sdt_entries(&s, &w, rsdt, 4);
	}
	if (rc == 0 && xsdt) {
		rc = note_table(&w, xsdt);
		if (rc == 0)
			rc = add_pointer(&s, ACPI_LOADER_RSDP_FILE, ACPI_LOADER_TABLES_FILE,
					 RSDP_XSDT, 8);
		if (rc == 0)
			rc = sdt_entries(&s, &w, (uint32_t)xsdt, 8);
	}
	/* checksums last, over patched tables: zero each field first, the firmware sums it too */
	for (int i = 0; rc == 0 && i < w.ntables; i++) {
		uint32_t t = w.tables[i], len;
		if (memcmp(blob + t, "FACS", 4) == 0 || !table_at(&w, t, &len))
			continue;
		blob[t + HDR_CHECKSUM] = 0;
		rc = add_checksum(&s, ACPI_LOADER_TABLES_FILE, t + HDR_CHECKSUM, t, len);
	}
	if (rc == 0) {
		out->rsdp[RSDP_CHECKSUM] = 0;
		out->rsdp[RSDP_EXT_CHECKSUM] = 0;
		rc = add_checksum(&s, ACPI_LOADER_RSDP_FILE, RSDP_CHECKSUM, 0, RSDP_V1_LEN);
	}
	if (rc == 0)
		rc = add_checksum(&s, ACPI_LOADER_RSDP_FILE, RSDP_EXT_CHECKSUM, 0, RSDP_LEN);
	if (rc) {
		free(blob);
		free(s.buf);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->tables = blob;
	out->tables_len = w.len;
	out->script = s.buf;
	out->script_len = s.n * ACPI_LOADER_ENTRY;
	return 0;
}

void acpi_loader_free(struct acpi_loader_blobs *b)
{
	free(b->tables);
	free(b->script);
	memset(b, 0, sizeof(*b));
}
