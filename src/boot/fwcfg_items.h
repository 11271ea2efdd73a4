/* The fw_cfg items a firmware boot gets (-l bootrom,...,fwcfg=qemu): CPU counts, the RAM map
 * (etc/e820) and the ACPI tables with their loader script (etc/table-loader), over QEMU's fw_cfg
 * ports. */
#ifndef KB_FWCFG_ITEMS_H
#define KB_FWCFG_ITEMS_H

#include <stddef.h>

struct vm;
struct acpi_platform;

/* Create the device with the VM's items, the ACPI tables of `acpi` among them, and claim its
 * ports; freed with the VM. 0 or -errno with one line in err. */
int fwcfg_setup(struct vm *vm, const struct acpi_platform *acpi, char *err, size_t errlen);

#endif
