/* The fw_cfg items a firmware boot gets (-l bootrom,...,fwcfg=qemu): CPU counts and the RAM map
 * (etc/e820), over QEMU's fw_cfg ports. */
#ifndef KB_FWCFG_ITEMS_H
#define KB_FWCFG_ITEMS_H

#include <stddef.h>

struct vm;

/* Create the device with the VM's items and claim its ports; freed with the VM. 0 or -errno
 * with one line in err. */
int fwcfg_setup(struct vm *vm, char *err, size_t errlen);

#endif
