/* SPDX-License-Identifier: BSD-2-Clause */
/* PCI configuration mechanism #1 and BAR decoding, through the real I/O bus. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/vm.h"
#include "pci/pci.h"

/* A device with one BAR of each kind, to exercise the bus (registered in this test binary only). */
struct testdev_state {
	uint64_t last_off;
	int reads;
};

static int testdev_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *n)
{
	static struct testdev_state st;
	memset(&st, 0, sizeof(st));
	pd->priv = &st;
	pci_set_cfg16(pd, PCIR_VENDOR, 0x1af4);
	pci_set_cfg16(pd, PCIR_DEVICE, 0xbeef);
	if (pci_alloc_bar(pd, 0, PCI_BAR_MEM32, 0x1000) || pci_alloc_bar(pd, 1, PCI_BAR_IO, 0x20) ||
	    pci_alloc_bar(pd, 2, PCI_BAR_MEM64, 0x4000) ||
	    pci_alloc_bar_flags(pd, 4, PCI_BAR_MEM64, 0x100000, PCI_BAR_PREFETCHABLE) ||
	    pci_alloc_intx(pd, 1))
		return -EINVAL;
	/* refused: unknown flags, a prefetchable I/O BAR, a 64-bit BAR in the last register */
	if (pci_alloc_bar_flags(pd, 5, PCI_BAR_MEM32, 0x1000, 2) != -EINVAL ||
	    pci_alloc_bar_flags(pd, 5, PCI_BAR_IO, 0x10, PCI_BAR_PREFETCHABLE) != -EINVAL ||
	    pci_alloc_bar(pd, 5, PCI_BAR_MEM64, 0x1000) != -EINVAL)
		return -EINVAL;
	return 0;
}

static int testdev_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	struct testdev_state *st = pd->priv;
	st->reads++;
	st->last_off = off;
	*val = 0xb0 + (uint64_t)bar;
	return 0;
}

static const struct pci_devemu testdev = {
	.name = "test-bars",
	.init = testdev_init,
	.barread = testdev_barread,
};
PCI_EMUL(testdev);

static struct vm *make_vm(const char *const *assignments)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	vm->cfg = config_new();
	vm->vm_fd = -1; /* no KVM: interrupt lines are not exercised here */
	iobus_init(&vm->bus);
	for (int i = 0; assignments[i]; i++)
		assert_int_equal(config_set_assignment(vm->cfg, assignments[i]), 0);
	return vm;
}

static void free_vm(struct vm *vm)
{
	vm_run_destroy_hooks(vm);
	pci_fini_all(vm);
	iobus_fini(&vm->bus);
	config_free(vm->cfg);
	free(vm);
}

static uint32_t cfg_read(struct vm *vm, int b, int s, int f, unsigned reg, unsigned size)
{
	uint64_t a = 0x80000000u | (unsigned)b << 16 | (unsigned)s << 11 | (unsigned)f << 8 | (reg & 0xfc);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a), 0);
	uint64_t v = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, false, &v), 0);
	return (uint32_t)v;
}

static void cfg_write(struct vm *vm, int b, int s, int f, unsigned reg, unsigned size, uint32_t val)
{
	uint64_t a = 0x80000000u | (unsigned)b << 16 | (unsigned)s << 11 | (unsigned)f << 8 | (reg & 0xfc);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a), 0);
	uint64_t v = val;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, true, &v), 0);
}

static const char *const basic[] = {"pci.0.0.0.device=hostbridge", "pci.0.31.0.device=lpc", NULL};

static void test_ids_and_sizes(void **state)
{
	struct vm *vm = make_vm(basic);
	assert_int_equal(pci_init_all(vm), 0);
	assert_int_equal(cfg_read(vm, 0, 0, 0, 0, 4), 0x12751275);
	assert_int_equal(cfg_read(vm, 0, 31, 0, 0, 4), 0x70008086);
	assert_int_equal(cfg_read(vm, 0, 31, 0, 2, 2), 0x7000);
	assert_int_equal(cfg_read(vm, 0, 31, 0, 1, 1), 0x80);
	assert_int_equal(cfg_read(vm, 0, 31, 0, 0x0b, 1), 0x06); /* bridge */
	assert_int_equal(cfg_read(vm, 0, 31, 0, 0x0a, 1), 0x01); /* ISA */
	/* absent device, absent function, other bus */
	assert_int_equal(cfg_read(vm, 0, 5, 0, 0, 4), 0xffffffff);
	assert_int_equal(cfg_read(vm, 0, 0, 1, 0, 4), 0xffffffff);
	assert_int_equal(cfg_read(vm, 1, 0, 0, 0, 4), 0xffffffff);
	free_vm(vm);
}

static void test_address_register(void **state)
{
	struct vm *vm = make_vm(basic);
	assert_int_equal(pci_init_all(vm), 0);
	uint64_t a = 0x8000f804, v = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, false, &v), 0);
	assert_int_equal(v, 0x8000f804);
	/* byte access to 0xCF8 does not change the address */
	uint64_t b = 0x12;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 1, true, &b), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, false, &v), 0);
	assert_int_equal(v, 0x8000f804);
	/* enable bit clear: data reads float high */
	a = 0x0000f800;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc, 4, false, &v), 0);
	assert_int_equal(v, 0xffffffff);
	free_vm(vm);
}

static void test_read_only_fields(void **state)
{
	struct vm *vm = make_vm(basic);
	assert_int_equal(pci_init_all(vm), 0);
	cfg_write(vm, 0, 31, 0, 0, 4, 0xdeadbeef);       /* IDs are read-only */
	assert_int_equal(cfg_read(vm, 0, 31, 0, 0, 4), 0x70008086);
	cfg_write(vm, 0, 31, 0, 0x08, 4, 0);             /* class/revision too */
	assert_int_equal(cfg_read(vm, 0, 31, 0, 0x0b, 1), 0x06);
	cfg_write(vm, 0, 31, 0, PCIR_INTLINE, 1, 0x0b);  /* interrupt line is scratch */
	assert_int_equal(cfg_read(vm, 0, 31, 0, PCIR_INTLINE, 1), 0x0b);
	cfg_write(vm, 0, 31, 0, PCIR_COMMAND, 2, 0xffff);
	assert_int_equal(cfg_read(vm, 0, 31, 0, PCIR_COMMAND, 2), 0x07ff);
	/* BARs of a device without BARs stay zero */
	cfg_write(vm, 0, 31, 0, PCIR_BAR0, 4, 0xffffffff);
	assert_int_equal(cfg_read(vm, 0, 31, 0, PCIR_BAR0, 4), 0);
	free_vm(vm);
}

static void test_bar_sizing_and_decoding(void **state)
{
	static const char *const a[] = {"pci.0.0.0.device=hostbridge", "pci.0.3.0.device=test-bars", NULL};
	struct vm *vm = make_vm(a);
	assert_int_equal(pci_init_all(vm), 0);
	struct pci_dev *pd = pci_find_dev(vm, 0, 3, 0);
	struct testdev_state *st = pd->priv;
	uint32_t bar0 = cfg_read(vm, 0, 3, 0, PCIR_BAR0, 4);
	assert_int_equal(bar0, (uint32_t)PCI_MEM32_BASE);
	uint32_t bar1 = cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 4, 4);
	assert_int_equal(bar1 & 3, 1);  /* I/O BAR */
	assert_true((bar1 & ~3u) >= PCI_IO_BASE);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 8, 4) & 0x6, 0x4);  /* 64-bit */
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_INTPIN, 1), 1);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_INTLINE, 1), pci_intx_gsi(3, 0));

	/* sizing protocol */
	cfg_write(vm, 0, 3, 0, PCIR_BAR0, 4, 0xffffffff);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0, 4), 0xfffff000);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 4, 4, 0xffffffff);
	/* I/O space decodes 16 bits: the upper half of an I/O BAR is hardwired to zero */
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 4, 4), 0x0000ffe1);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 8, 4, 0xffffffff);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 12, 4, 0xffffffff);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 8, 4), 0xffffc004);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 12, 4), 0xffffffff);
	/* BAR 4: 64-bit prefetchable, 1 MiB; the type bits survive sizing */
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 16, 4) & 0xf, 0xc);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 16, 4, 0xffffffff);
	assert_int_equal(cfg_read(vm, 0, 3, 0, PCIR_BAR0 + 16, 4), 0xfff0000c);

	/* program addresses; nothing decodes until the command register enables it */
	cfg_write(vm, 0, 3, 0, PCIR_BAR0, 4, 0xd0000000);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 4, 4, 0x3000);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 8, 4, 0x40000000);
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 12, 4, 0x10);
	uint64_t v;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0xd0000010, 4, false, &v), -ENOENT);
	cfg_write(vm, 0, 3, 0, PCIR_COMMAND, 2, 0x3);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0xd0000010, 4, false, &v), 0);
	assert_int_equal(v, 0xb0);
	assert_int_equal(st->last_off, 0x10);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x3004, 1, false, &v), 0);
	assert_int_equal(v, 0xb1);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0x1040000000ULL + 0x3ff8, 8, false, &v), 0);
	assert_int_equal(v, 0xb2);
	assert_int_equal(st->last_off, 0x3ff8);

	/* moving a decoding BAR: the old address stops decoding */
	cfg_write(vm, 0, 3, 0, PCIR_BAR0, 4, 0xd0100000);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0xd0000010, 4, false, &v), -ENOENT);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0xd0100010, 4, false, &v), 0);
	/* a BAR programmed on top of another device's range just does not decode */
	cfg_write(vm, 0, 3, 0, PCIR_BAR0 + 4, 4, 0xcf8);
	assert_int_equal(cfg_read(vm, 0, 3, 0, 0, 4), 0xbeef1af4); /* config space still works */
	/* disabling memory decoding unmaps MMIO BARs only */
	cfg_write(vm, 0, 3, 0, PCIR_COMMAND, 2, 0x1);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_MMIO, 0xd0100010, 4, false, &v), -ENOENT);
	free_vm(vm);
}

static void test_multifunction(void **state)
{
	static const char *const a[] = {"pci.0.0.0.device=hostbridge", "pci.0.4.0.device=test-bars",
					"pci.0.4.1.device=amd_hostbridge", NULL};
	struct vm *vm = make_vm(a);
	assert_int_equal(pci_init_all(vm), 0);
	assert_int_equal(cfg_read(vm, 0, 4, 0, PCIR_HDRTYPE, 1) & 0x80, 0x80);
	assert_int_equal(cfg_read(vm, 0, 0, 0, PCIR_HDRTYPE, 1) & 0x80, 0);
	assert_int_equal(cfg_read(vm, 0, 4, 1, 0, 4), 0x74321022);
	free_vm(vm);

	static const char *const nofunc0[] = {"pci.0.4.1.device=hostbridge", NULL};
	vm = make_vm(nofunc0);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
}

static void test_bad_configs(void **state)
{
	static const char *const unknown[] = {"pci.0.2.0.device=frobnicator", NULL};
	struct vm *vm = make_vm(unknown);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
	static const char *const badslot[] = {"pci.0.32.0.device=hostbridge", NULL};
	vm = make_vm(badslot);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
	static const char *const two_lpc[] = {"pci.0.30.0.device=lpc", "pci.0.31.0.device=lpc", NULL};
	vm = make_vm(two_lpc);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
	static const char *const lpc_bus1[] = {"pci.1.31.0.device=lpc", NULL};
	vm = make_vm(lpc_bus1);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
	static const char *const no_device[] = {"pci.0.3.0.path=/x", NULL};
	vm = make_vm(no_device);
	assert_int_equal(pci_init_all(vm), -EINVAL);
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_and_sizes),
		cmocka_unit_test(test_address_register),
		cmocka_unit_test(test_read_only_fields),
		cmocka_unit_test(test_bar_sizing_and_decoding),
		cmocka_unit_test(test_multifunction),
		cmocka_unit_test(test_bad_configs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
