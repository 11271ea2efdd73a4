/* SPDX-License-Identifier: BSD-2-Clause */
/* A small AML (ACPI Machine Language) byte-code writer, enough for a static DSDT.
 *
 * All output goes into a caller-supplied buffer. Errors are sticky: the first one
 * (-ENOSPC when the buffer is full, -EINVAL for a bad name or value) is kept in `err`
 * and every later call does nothing, so a builder can emit a whole table and check
 * once at the end.
 *
 * Constructs with a PkgLength (Scope, Device, Method, Package, Buffer) are written
 * as begin ... end pairs: begin returns a mark, the body is emitted, and end inserts
 * the PkgLength (smallest encoding) in front of the body. They may nest.
 */
#ifndef KB_ACPI_AML_H
#define KB_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len; /* bytes written so far */
	int err;    /* 0, or the first error (-ENOSPC, -EINVAL) */
};

/* Largest value a PkgLength can encode (28 bits). */
#define AML_PKGLEN_MAX 0x0FFFFFFFu

void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* Encode a PkgLength `value` (which counts its own bytes) in the smallest form.
 * Returns the number of bytes written to out (1-4), or 0 if value > AML_PKGLEN_MAX. */
size_t aml_pkglen_encode(uint32_t value, uint8_t out[4]);

/* Raw bytes (used for resource descriptors and by tests). */
void aml_bytes(struct aml *a, const void *p, size_t n);

/* NameString: "\\_SB.PCI0", "^FOO", "_HID", "\\" ... Segments of 1-4 characters are
 * padded with '_'; the first character of a segment is A-Z or '_', the rest A-Z, 0-9, '_'. */
void aml_namestring(struct aml *a, const char *path);

/* Integer constant with the smallest encoding: ZeroOp, OneOp, Byte/Word/DWord/QWordConst.
 * (OnesOp is never used: its value depends on the table revision.) */
void aml_integer(struct aml *a, uint64_t v);
/* String constant (ASCII 0x01-0x7F). */
void aml_string(struct aml *a, const char *s);
/* EISA ID ("PNP0A03") compressed into a DWordConst. */
void aml_eisaid(struct aml *a, const char *id);

/* Name (path, <object>): writes NameOp and the NameString; the caller emits the object. */
void aml_name(struct aml *a, const char *path);
void aml_name_integer(struct aml *a, const char *path, uint64_t v);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* Return (<value>): writes ReturnOp; the caller emits the value. */
void aml_return(struct aml *a);

size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
/* nargs 0-7; sync level 0. */
size_t aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized);
/* Package with a fixed element count (0-255); the caller emits exactly that many. */
size_t aml_package_begin(struct aml *a, unsigned nelems);
/* Closes a Scope, Device, Method or Package. */
void aml_end(struct aml *a, size_t mark);

/* Buffer: the size operand is computed from the bytes emitted before aml_buffer_end.
 * A ResourceTemplate is a Buffer holding resource descriptors and an end tag. */
size_t aml_buffer_begin(struct aml *a);
void aml_buffer_end(struct aml *a, size_t mark);

/* Memory attributes (_MEM) for the memory address-space descriptors. */
enum aml_mem_attr {
	AML_MEM_NONCACHEABLE = 0,
	AML_MEM_CACHEABLE = 1,
	AML_MEM_WRITECOMBINING = 2,
	AML_MEM_PREFETCHABLE = 3,
};

/* Address-space descriptors as a bridge describes its windows: ResourceProducer,
 * PosDecode, MinFixed, MaxFixed, granularity 0, translation 0, length max - min + 1.
 * Memory ranges are ReadWrite; I/O ranges are EntireRange. */
void aml_rs_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_rs_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_rs_dword_io(struct aml *a, uint32_t min, uint32_t max);
void aml_rs_dword_memory(struct aml *a, enum aml_mem_attr attr, uint32_t min, uint32_t max);
void aml_rs_qword_memory(struct aml *a, enum aml_mem_attr attr, uint64_t min, uint64_t max);
/* IO (Decode16, min, max, alignment, length) */
void aml_rs_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t length);
/* IRQNoFlags () {mask}: bit n = IRQ n (edge, active high). */
void aml_rs_irq_noflags(struct aml *a, uint16_t mask);
/* End tag, checksum 0 ("valid"). */
void aml_rs_end_tag(struct aml *a);

#endif
