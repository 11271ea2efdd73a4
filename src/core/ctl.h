/* SPDX-License-Identifier: BSD-2-Clause */
/* The control socket of a running VM (FreeBSD's /dev/vmm/NAME): bhyvectl connects to
 * ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm/NAME to destroy, reset, power off the VM or read its
 * counters. Protocol: ctl/ctlproto.h. Served on the VM's event loop. */
#ifndef KB_CTL_H
#define KB_CTL_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Create the socket directory and the VM's socket and serve it on vm->ev; the socket is removed
 * at vm_destroy. Fails with -EEXIST and "VM NAME is already running (PATH)" in err when another
 * bhyve serves that name; a stale socket left by a dead one is replaced. 0 or -errno with a
 * one-line message in err. */
int ctl_init(struct vm *vm, char *err, size_t errlen);

/* Device counters for the "stats" request (bhyvectl --get-stats). fn runs on the event-loop
 * thread and adds lines with ctl_stats_u64()/ctl_stats_printf(); they appear as "NAME.KEY VALUE".
 * Counters that other threads update should be read with relaxed atomic loads. */
struct ctl_stats_out;
typedef void (*ctl_stats_fn)(struct ctl_stats_out *out, void *opaque);

/* May be called before or after ctl_init (devices register during machine setup); the
 * registration lasts until vm_destroy. NAME: 1-32 bytes of [A-Za-z0-9_-], e.g. "virtio-net0".
 * 0, -EINVAL for a bad name, -EEXIST for a name already registered, -ENOMEM. */
int ctl_register_stats(struct vm *vm, const char *name, ctl_stats_fn fn, void *opaque);

/* KEY: [A-Za-z0-9_.-]+, with the NAME prefix at most 64 bytes; lines with a bad key are dropped. */
void ctl_stats_u64(struct ctl_stats_out *out, const char *key, uint64_t value);
void ctl_stats_printf(struct ctl_stats_out *out, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
