/* SPDX-License-Identifier: BSD-2-Clause */
/* One section's bytes, saved or loaded by a visit function (snapstate.h): the buffer behind
 * struct snap, for the snapshot writer and reader and for unit tests of device state. */
#ifndef KB_SNAPBUF_H
#define KB_SNAPBUF_H

#include <stddef.h>

#include "snapshot/snapstate.h"

/* A section being saved: visit it, then take its bytes with snap_data. NULL without memory. */
struct snap *snap_new_save(const char *name);
/* A section being loaded from `len` bytes at data (not copied; must outlive the snap). */
struct snap *snap_new_load(const char *name, const void *data, size_t len);
/* The bytes saved so far. */
const void *snap_data(const struct snap *s, size_t *len);
/* After the visit: 0, or -EINVAL with one line in err when a value was out of range, the
 * section ended early, or (loading) bytes were left over, i.e. the state does not fit this
 * device; -ENOMEM when saving ran out of memory. */
int snap_finish(const struct snap *s, char *err, size_t errlen);
void snap_free(struct snap *s);

#endif
