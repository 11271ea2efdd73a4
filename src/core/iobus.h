/* SPDX-License-Identifier: BSD-2-Clause */
/* The I/O bus: routes port-I/O and MMIO exits to registered handlers by address range. */
#ifndef KB_IOBUS_H
#define KB_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum iobus_space { IOBUS_PIO = 0, IOBUS_MMIO = 1 };

/* `offset` is relative to the registered base; `size` is 1, 2, 4 or 8.
 * For reads the handler stores the value in *val; for writes it reads *val.
 * Handlers return 0; a non-zero return is logged and treated as unhandled. */
typedef int (*iobus_handler_fn)(void *opaque, uint64_t offset, unsigned size, bool is_write,
				uint64_t *val);

struct iobus_range {
	uint64_t base, len;
	iobus_handler_fn fn;
	void *opaque;
	const char *name;
};

struct iobus {
	pthread_rwlock_t lock;
	struct iobus_range *ranges[2]; /* sorted by base, per space */
	int count[2], cap[2];
};

void iobus_init(struct iobus *bus);
void iobus_fini(struct iobus *bus);
/* -EEXIST if it overlaps a registered range, -EINVAL for an empty or wrapping range. */
int iobus_register(struct iobus *bus, enum iobus_space sp, uint64_t base, uint64_t len,
		   iobus_handler_fn fn, void *opaque, const char *name);
/* Removes the range registered exactly at `base`; -ENOENT if none. */
int iobus_unregister(struct iobus *bus, enum iobus_space sp, uint64_t base);
/* 0 when a handler took the access, -ENOENT when no range covers it. */
int iobus_dispatch(struct iobus *bus, enum iobus_space sp, uint64_t addr, unsigned size,
		   bool is_write, uint64_t *val);

#endif
