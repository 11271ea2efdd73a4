/* SPDX-License-Identifier: BSD-2-Clause */
/* The fw_cfg items a firmware boot gets (-l bootrom,...,fwcfg=qemu): CPU counts, "no graphics",
 * the RAM map (etc/e820), the ACPI tables with their loader script (etc/table-loader), the boot
 * order of the devices' bootindex= and the user's -f items, over QEMU's fw_cfg ports. */
#ifndef KB_FWCFG_ITEMS_H
#define KB_FWCFG_ITEMS_H

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct acpi_platform;
struct cfgnode;

/* Create the device with the VM's items, the ACPI tables of `acpi` among them, and claim its
 * ports; freed with the VM. 0 or -errno with one line in err. */
int fwcfg_setup(struct vm *vm, const struct acpi_platform *acpi, char *err, size_t errlen);
/* Whether the configuration has -f items (fwcfg.user.N), which need QEMU's fw_cfg. */
bool fwcfg_has_user_items(struct cfgnode *cfg);

#endif
