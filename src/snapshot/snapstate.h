/* SPDX-License-Identifier: BSD-2-Clause */
/* Device state for checkpoint and restore (bhyvectl --checkpoint/--suspend, bhyve -r): what a
 * device model sees of snapshots.
 *
 * Each piece of state is one named section of the FILE.kern file. A device writes ONE visit
 * function that goes through its fields in a fixed order with snap_u8/u16/u32/u64/bool/bytes:
 * when saving they append the values, when loading they overwrite them with the saved ones, so
 * the two directions cannot drift apart. Values loaded from a file are untrusted (a user may
 * hand bhyve -r any file): a model checks each one that indexes or sizes something with
 * snap_check(), which fails the whole restore with one line naming the section and the field.
 *
 * A device with state registers it once at init with snapshot_register(); one that cannot be
 * saved yet says so with snapshot_unsupported(), and a checkpoint is then refused naming it. */
#ifndef KB_SNAPSTATE_H
#define KB_SNAPSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct snap;

/* Whether this visit loads (restore) rather than saves. */
bool snap_loading(const struct snap *s);
/* Save *p, or load it. A load past the section's end fails the section (the value is left). */
void snap_bytes(struct snap *s, void *p, size_t n);
void snap_u8(struct snap *s, uint8_t *v);
void snap_u16(struct snap *s, uint16_t *v);
void snap_u32(struct snap *s, uint32_t *v);
void snap_u64(struct snap *s, uint64_t *v);
void snap_i64(struct snap *s, int64_t *v);
void snap_bool(struct snap *s, bool *v);
/* unsigned int and int fields, stored as 32 bits */
void snap_uint(struct snap *s, unsigned *v);
void snap_int(struct snap *s, int *v);
/* When loading and `ok` is false: the section is invalid ("NAME: WHAT out of range"); returns
 * ok (true when saving). Use it for every loaded value that indexes or sizes something. */
bool snap_check(struct snap *s, bool ok, const char *what);
/* Fail the section with a message (a state the model cannot take back). */
void snap_fail(struct snap *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool snap_failed(const struct snap *s);

/* Callbacks of one piece of state; all run on the event-loop thread, with every vCPU parked. */
struct snapshot_ops {
	/* Optional: stop starting work of the device's own (backend input, new requests) before
	 * a checkpoint; work in flight may finish. */
	void (*pause)(void *opaque);
	/* Optional: whether nothing is in flight any more (no request a backend still owns, no
	 * completion waiting to be delivered). Polled on the event loop after pause. */
	bool (*drained)(void *opaque);
	/* Save or load every field (see above). */
	void (*visit)(struct snap *s, void *opaque);
	/* Optional, after a load: make the host side match the loaded state (timers, interrupt
	 * routes, mappings). 0, or -errno with one line in err. */
	int (*restored)(void *opaque, char *err, size_t errlen);
	/* Optional: start work again (after a checkpoint, or once a restored VM runs). */
	void (*resume)(void *opaque);
};

/* Register a section NAME ([A-Za-z0-9_.:-], at most SNAP_NAME_MAX bytes, unique in the VM)
 * for the VM's lifetime. Sections are visited in registration order. 0 or -errno. */
#define SNAP_NAME_MAX 47
int snapshot_register(struct vm *vm, const char *name, const struct snapshot_ops *ops,
		      void *opaque);
/* A part of this VM that cannot be saved: checkpoints are refused with "NAME: WHY". */
int snapshot_unsupported(struct vm *vm, const char *name, const char *why);

#endif
