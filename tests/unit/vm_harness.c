/* SPDX-License-Identifier: BSD-2-Clause */
#include "vm_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "config/options.h"
#include "pci/pci.h"

struct vm *harness_vm_new(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	vm->kvm_fd = vm->vm_fd = -1;
	vm->cfg = config_new();
	vm->ev = evloop_new();
	assert_non_null(vm->ev);
	atomic_store(&vm->exit_code, -1);
	iobus_init(&vm->bus);
	return vm;
}

void harness_vm_free(struct vm *vm)
{
	vm_run_destroy_hooks(vm);
	pci_fini_all(vm);
	iobus_fini(&vm->bus);
	evloop_free(vm->ev);
	config_free(vm->cfg);
	free(vm);
}

static void cfg_access(struct vm *vm, unsigned slot, unsigned reg, unsigned size, bool is_write,
		       uint64_t *v)
{
	uint64_t a = 0x80000000u | (slot << 11) | (reg & 0xfc);
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a);
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, is_write, v);
}

uint32_t harness_cfg_read(struct vm *vm, unsigned slot, unsigned reg, unsigned size)
{
	uint64_t v = 0;
	cfg_access(vm, slot, reg, size, false, &v);
	return (uint32_t)v;
}

void harness_cfg_write(struct vm *vm, unsigned slot, unsigned reg, unsigned size, uint32_t val)
{
	uint64_t v = val;
	cfg_access(vm, slot, reg, size, true, &v);
}

uint64_t harness_mmio_read(struct vm *vm, uint64_t addr, unsigned size)
{
	uint64_t v = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, addr, size, false, &v), 0);
	return v;
}

void harness_mmio_write(struct vm *vm, uint64_t addr, unsigned size, uint64_t val)
{
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, addr, size, true, &val), 0);
}

int harness_add_device(struct vm *vm, unsigned slot, const char *emulation, const char *opts)
{
	const struct pci_devemu *emu = pci_emul_find(emulation);
	assert_non_null(emu);
	char path[32];
	snprintf(path, sizeof(path), "pci.0.%u.0", slot);
	struct cfgnode *dev = config_node_create(vm->cfg, path);
	assert_int_equal(config_set(dev, "device", emulation), 0);
	/* as the command line does: the generic key=value parser unless the device has its own */
	if (emu->legacy_config)
		return emu->legacy_config(dev, opts);
	return opts && *opts ? pci_parse_legacy_config(dev, opts) : 0;
}

void *harness_loop_thread(void *ev)
{
	evloop_run(ev);
	return NULL;
}
