/* SPDX-License-Identifier: BSD-2-Clause */
/* Assembling the x86 machine after vm_create(): platform devices, PCI, firmware tables, boot. */
#ifndef KB_MACHINE_H
#define KB_MACHINE_H

#include <stddef.h>

struct vm;

/* 0, or a negative errno with a one-line message in err (empty when the part that failed has
 * logged its own line). */
int machine_setup(struct vm *vm, char *err, size_t errlen);
/* Only the platform devices (RTC, PM, i8042, ...), in their order: machine_setup's first step,
 * also used by the fuzz targets that drive the devices without a kernel to boot. */
int machine_init_devices(struct vm *vm, char *err, size_t errlen);

#endif
