/* SPDX-License-Identifier: BSD-2-Clause */
/* A VM without KVM for unit tests of PCI devices: the real config tree, I/O bus, event loop and
 * PCI bus, driven the way a guest driver would (config mechanism #1, MMIO to BARs). Interrupt
 * line changes fail quietly (vm_fd is -1). */
#ifndef KB_TEST_VM_HARNESS_H
#define KB_TEST_VM_HARNESS_H

#include <stdint.h>

#include "core/vm.h"

struct vm *harness_vm_new(void);
/* Runs the destroy hooks, then frees the PCI bus, the bus, the loop, the config and the VM. */
void harness_vm_free(struct vm *vm);

/* Config space of bus 0, function 0 of `slot`, through 0xCF8/0xCFC. */
uint32_t harness_cfg_read(struct vm *vm, unsigned slot, unsigned reg, unsigned size);
void harness_cfg_write(struct vm *vm, unsigned slot, unsigned reg, unsigned size, uint32_t val);
/* MMIO at a guest-physical address; the access must reach a handler (asserted). */
uint64_t harness_mmio_read(struct vm *vm, uint64_t addr, unsigned size);
void harness_mmio_write(struct vm *vm, uint64_t addr, unsigned size, uint64_t val);

/* -s SLOT,EMULATION[,opts] as the command line does it: 0 or legacy_config's error. */
int harness_add_device(struct vm *vm, unsigned slot, const char *emulation, const char *opts);

/* pthread body running evloop_run() on the struct evloop given as its argument. */
void *harness_loop_thread(void *ev);

#endif
