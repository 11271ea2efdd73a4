/* SPDX-License-Identifier: BSD-2-Clause */
/* The fw_cfg "bootorder" file from the devices' bootindex= (bhyve(8): pci.B.S.F.bootindex, and
 * pci.B.S.F.port.N.bootindex for a port of an AHCI controller): one OpenFirmware path per device,
 * lowest index first, as QEMU hands it to OVMF and SeaBIOS. */
#ifndef KB_BOOTORDER_H
#define KB_BOOTORDER_H

#include <stddef.h>

struct cfgnode;

/* 0 with *out = NULL when no device has a bootindex; 0 with *out (malloc'd) holding the paths
 * separated by '\n' and ended by a NUL that *len counts; -EINVAL with one line in err for a
 * bootindex that is not a number from 0 to 65535 or is given twice; -ENOMEM. */
int bootorder_build(struct cfgnode *cfg, char **out, size_t *len, char *err, size_t errlen);

#endif
