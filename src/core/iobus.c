/* SPDX-License-Identifier: BSD-2-Clause */
#include "core/iobus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void iobus_init(struct iobus *bus)
{
	memset(bus, 0, sizeof(*bus));
	pthread_rwlock_init(&bus->lock, NULL);
}

void iobus_fini(struct iobus *bus)
{
	for (int s = 0; s < 2; s++)
		free(bus->ranges[s]);
	pthread_rwlock_destroy(&bus->lock);
	memset(bus, 0, sizeof(*bus));
}

/* Index of the first range whose base is > addr (ranges sorted, non-overlapping). */
static int upper_bound(const struct iobus_range *r, int n, uint64_t addr)
{
	int lo = 0, hi = n;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iobus_register(struct iobus *bus, enum iobus_space sp, uint64_t base, uint64_t len,
		   iobus_handler_fn fn, void *opaque, const char *name)
{
	if (len == 0 || base + len - 1 < base || !fn || (sp != IOBUS_PIO && sp != IOBUS_MMIO))
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	struct iobus_range *r = bus->ranges[sp];
	int n = bus->count[sp];
	int pos = upper_bound(r, n, base);
	int err = 0;
	/* the previous range must end before base, the next must start after our end */
	if (pos > 0 && r[pos - 1].base + (r[pos - 1].len - 1) >= base)
		err = -EEXIST;
	else if (pos < n && r[pos].base <= base + (len - 1))
		err = -EEXIST;
	if (!err && n == bus->cap[sp]) {
		int cap = bus->cap[sp] ? bus->cap[sp] * 2 : 16;
		struct iobus_range *nr = realloc(r, (size_t)cap * sizeof(*nr));
		if (!nr)
			err = -ENOMEM;
		else {
			bus->ranges[sp] = r = nr;
			bus->cap[sp] = cap;
		}
	}
	if (!err) {
		memmove(&r[pos + 1], &r[pos], (size_t)(n - pos) * sizeof(*r));
		r[pos] = (struct iobus_range){base, len, fn, opaque, name};
		bus->count[sp]++;
	}
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

int iobus_unregister(struct iobus *bus, enum iobus_space sp, uint64_t base)
{
	if (sp != IOBUS_PIO && sp != IOBUS_MMIO)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	struct iobus_range *r = bus->ranges[sp];
	int n = bus->count[sp];
	int pos = upper_bound(r, n, base) - 1;
	int err = -ENOENT;
	if (pos >= 0 && r[pos].base == base) {
		memmove(&r[pos], &r[pos + 1], (size_t)(n - pos - 1) * sizeof(*r));
		bus->count[sp]--;
		err = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return err;
}

int iobus_dispatch(struct iobus *bus, enum iobus_space sp, uint64_t addr, unsigned size,
		   bool is_write, uint64_t *val)
{
	if (sp != IOBUS_PIO && sp != IOBUS_MMIO)
		return -EINVAL;
	pthread_rwlock_rdlock(&bus->lock);
	const struct iobus_range *r = bus->ranges[sp];
	int pos = upper_bound(r, bus->count[sp], addr) - 1;
	struct iobus_range hit;
	bool found = pos >= 0 && addr - r[pos].base < r[pos].len;
	if (found)
		hit = r[pos];
	pthread_rwlock_unlock(&bus->lock);
	if (!found)
		return -ENOENT;
	/* Handlers run without the bus lock so they may (un)register ranges, e.g. BAR moves. */
	int rc = hit.fn(hit.opaque, addr - hit.base, size, is_write, val);
	if (rc != 0) {
		kb_debug("%s: handler for %#llx failed (%d)", hit.name ? hit.name : "?",
			 (unsigned long long)addr, rc);
		return -ENOENT;
	}
	return 0;
}
