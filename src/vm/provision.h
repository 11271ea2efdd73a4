/* SPDX-License-Identifier: BSD-2-Clause */
/* vm create -i IMAGE and -C [-k KEYFILE] [-n NETCONFIG] [-u USER], as vm-bhyve's: the image
 * written into disk0 (converted to raw by qemu-img, then grown to the disk's size), and a
 * cloud-init NoCloud seed.iso attached as the next disk (ahci-cd). */
#ifndef VM_PROVISION_H
#define VM_PROVISION_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm/cloudinit.h"
#include "vm/settings.h"
#include "vm/vmconf.h"

struct provision {
	char image[PATH_MAX]; /* "" without -i */
	const char *format;   /* qemu-img's name of its format */
	bool cloud_init;
	char **keys;
	int nkeys;
	const char *user; /* -u, or NULL */
	bool have_net;
	struct ci_net net;
};

/* Check create's -i/-C/-k/-n/-u (o: vm_opts_parse's table) against template c: 0 with *pv
 * filled, or -1 after one line on stderr. disk0: the index of the template's first file disk
 * (-1: none). */
int provision_check(const struct vm_settings *s, const char *const o[128], const struct vmconf *c,
		    const char *name, int disk0, struct provision *pv);
/* The image into the disk file at path (which it replaces), grown to size; where path is (a link
 * to) a block device, a thin volume of an LVM datastore, into that device, which must be large
 * enough. 0 or -errno + err. */
int provision_image(const struct provision *pv, const char *path, uint64_t size, char *err,
		    size_t errlen);
/* seed.iso at path, and its disk added to c. 0 or -errno + err. */
int provision_seed(const struct provision *pv, struct vmconf *c, const char *name,
		   const char *uuid, const char *path, char *err, size_t errlen);
void provision_free(struct provision *pv);

#endif
