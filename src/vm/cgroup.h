/* SPDX-License-Identifier: BSD-2-Clause */
/* Each running guest's bhyve in a cgroup v2 of its own, kbhyve.slice/NAME, with vm-bhyve's rctl(8)
 * keys mapped to the unified hierarchy's controllers:
 *   limit_pcpu="P"   cpu.max: P percent of one CPU (200 is two CPUs' worth)
 *   limit_rbps, limit_wbps, limit_riops, limit_wiops
 *                    io.max on the block device under each disk (a file's file system's disk, a
 *                    block device's own disk; a partition stands for its disk)
 *   memory.max       the guest's RAM plus a margin for bhyve itself (CG_MEM_MARGIN)
 * The supervisor makes the cgroup, bhyve's child joins it before exec, and the cgroup goes when
 * bhyve has ended. `vm info` reads its usage. */
#ifndef VM_CGROUP_H
#define VM_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/vmconf.h"

#define CG_SLICE "kbhyve.slice"

struct cg_limits {
	unsigned pcpu;			 /* percent of one CPU; 0: none */
	uint64_t rbps, wbps, riops, wiops; /* per second; 0: none */
	uint64_t memory_max;		 /* bytes; 0: none */
};

/* The limit_* keys and memory of a guest's conf. 0, or -EINVAL with one line naming the key. */
int cg_limits_parse(const struct vmconf *conf, struct cg_limits *l, char *err, size_t errlen);
/* memory.max for a guest of `ram` bytes: RAM + 256 MiB + RAM/8 (bhyve's own memory, its
 * framebuffer and I/O buffers; the guest's RAM is charged as the guest touches it). */
uint64_t cg_memory_max(uint64_t ram);

/* The mount point of the unified hierarchy (cgroup2) in this mount namespace: 0, or -ENOENT. */
int cg_root(char *out, size_t outlen);
/* <root>/kbhyve.slice/NAME. 0 or -ENAMETOOLONG. */
int cg_guest_path(const char *root, const char *name, char *out, size_t outlen);

/* "MAJ:MIN" of the whole disk under `path` (a file's file system, or a block device), in out[32].
 * 0, or -ENODEV when there is none (tmpfs, overlay, a network file system). */
int cg_disk_of(const char *path, char *out);

/* One line per limit that cannot be applied (why), for the guest's log. */
typedef void (*cg_note_fn)(void *ctx, const char *line);

/* Make <root>/kbhyve.slice/NAME (left empty of processes by an earlier run or new), enable the cpu,
 * io and memory controllers down to it where the kernel has them, and write the limits: io.max
 * for each distinct disk under `disks` (NULL-terminated). A limit whose controller or device is
 * missing is noted and skipped. 0 with path, or -errno with one line in err (no cgroup made). */
int cg_setup(const char *root, const char *name, const struct cg_limits *l,
	     char *const *disks, cg_note_fn note, void *ctx, char *path, size_t pathlen,
	     char *err, size_t errlen);
/* In a child before exec: move this process into the cgroup at path. 0 or -errno. */
int cg_join(const char *path);
/* Remove the cgroup once its processes are gone (waits up to a second for the kernel). */
void cg_remove(const char *path);

struct cg_usage {
	uint64_t cpu_usec, throttled_usec, nr_throttled;
	uint64_t memory_current, memory_max; /* memory_max 0: "max" */
	uint64_t rbytes, wbytes, rios, wios; /* summed over devices */
	bool has_cpu, has_memory, has_io;
};
/* The usage of the cgroup at path. 0, or -errno when it is not there. */
int cg_usage_read(const char *path, struct cg_usage *u);

#endif
