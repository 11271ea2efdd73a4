/* SPDX-License-Identifier: BSD-2-Clause */
/* The PCI bus's MSI/MSI-X service, driven as a guest would through config space and a BAR, on a
 * test device that offers both (no KVM: a message that is sent tries to create its route, which
 * fails here and logs one line; that line is how these tests see a message go out). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "pci/pci.h"
#include "pci/pci_msi.h"
#include "vm_harness.h"

#define SLOT 4

struct msidev {
	struct pci_dev *pd;
	int barwrites, barreads;
};
static struct msidev the_dev;

static int md_init(struct vm *vm, struct pci_dev *pd, struct cfgnode *n)
{
	the_dev.pd = pd;
	pci_set_cfg16(pd, PCIR_VENDOR, 0x1234);
	pci_set_cfg16(pd, PCIR_DEVICE, 0x5678);
	int rc = pci_alloc_bar(pd, 0, PCI_BAR_MEM32, 0x2000);
	if (!rc)
		rc = pci_alloc_intx(pd, 1);
	if (!rc)
		rc = pci_msi_add(pd, 4);
	if (!rc)
		rc = pci_msix_add(pd, 0, 3, 0x1000, 0x1800);
	return rc;
}

static int md_barread(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t *val)
{
	the_dev.barreads++;
	*val = 0xabcd;
	return 0;
}

static int md_barwrite(struct pci_dev *pd, int bar, uint64_t off, unsigned size, uint64_t val)
{
	the_dev.barwrites++;
	return 0;
}

static const struct pci_devemu md_emu = {
    .name = "test-msi", .init = md_init, .barread = md_barread, .barwrite = md_barwrite};
PCI_EMUL(md_emu);

struct env {
	struct vm *vm;
	unsigned msi, msix;
	uint64_t bar0;
};

static uint32_t cfgr(struct env *e, unsigned reg, unsigned size)
{
	return harness_cfg_read(e->vm, SLOT, reg, size);
}

static void cfgw(struct env *e, unsigned reg, unsigned size, uint32_t v)
{
	harness_cfg_write(e->vm, SLOT, reg, size, v);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	e->vm = harness_vm_new();
	assert_int_equal(harness_add_device(e->vm, SLOT, "test-msi", NULL), 0);
	assert_int_equal(pci_init_all(e->vm), 0);
	for (unsigned p = cfgr(e, PCIR_CAP_PTR, 1); p; p = cfgr(e, p + 1, 1)) {
		if (cfgr(e, p, 1) == PCI_CAP_MSI)
			e->msi = p;
		else if (cfgr(e, p, 1) == PCI_CAP_MSIX)
			e->msix = p;
	}
	e->bar0 = cfgr(e, PCIR_BAR0, 4) & ~0xfu;
	cfgw(e, PCIR_COMMAND, 2, 0x6); /* memory decoding, bus master */
	the_dev.barreads = the_dev.barwrites = 0;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	harness_vm_free(e->vm);
	free(e);
	return 0;
}

/* Lines a function writes to stderr (each message that goes out logs its failed route once). */
static unsigned stderr_lines(void (*fn)(struct env *), struct env *e)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	fn(e);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	unsigned lines = 0;
	for (int ch; (ch = fgetc(tmp)) != EOF;)
		lines += ch == '\n';
	fclose(tmp);
	return lines;
}

static void test_capability_list(void **state)
{
	struct env *e = *state;
	assert_int_equal(cfgr(e, PCIR_STATUS, 2) & 0x10, 0x10);
	assert_int_equal(cfgr(e, PCIR_CAP_PTR, 1), e->msi);
	assert_int_equal(e->msi, 0x40);
	assert_int_equal(cfgr(e, e->msi + 1, 1), e->msix); /* MSI, then MSI-X, then the end */
	assert_int_equal(cfgr(e, e->msix + 1, 1), 0);
	/* MSI: 4 vectors offered (MMC 2), 64-bit, per-vector masking, disabled */
	assert_int_equal(cfgr(e, e->msi + 2, 2), 0x0100 | 0x0080 | 2 << 1);
	/* MSI-X: table size 3 (N-1 = 2), table and PBA in BAR 0 */
	assert_int_equal(cfgr(e, e->msix + 2, 2), 2);
	assert_int_equal(cfgr(e, e->msix + 4, 4), 0x1000);
	assert_int_equal(cfgr(e, e->msix + 8, 4), 0x1800);
}

static void test_msi_register_write_masks(void **state)
{
	struct env *e = *state;
	/* only enable and multiple-message enable are writable in the control word */
	cfgw(e, e->msi + 2, 2, 0xffff);
	assert_int_equal(cfgr(e, e->msi + 2, 2), 0x0100 | 0x0080 | 0x70 | 2 << 1 | 1);
	cfgw(e, e->msi + 2, 2, 0);
	cfgw(e, e->msi + 4, 4, 0xfee0100f); /* dword aligned: the low two bits read 0 */
	assert_int_equal(cfgr(e, e->msi + 4, 4), 0xfee0100c);
	cfgw(e, e->msi + 8, 4, 0x12345678);
	assert_int_equal(cfgr(e, e->msi + 8, 4), 0x12345678);
	cfgw(e, e->msi + 12, 4, 0xffff4041); /* data is 16 bits, the rest reserved */
	assert_int_equal(cfgr(e, e->msi + 12, 4), 0x4041);
	cfgw(e, e->msi + 16, 4, 0xffffffff); /* mask bits exist for the 4 vectors only */
	assert_int_equal(cfgr(e, e->msi + 16, 4), 0xf);
	cfgw(e, e->msi + 20, 4, 0xffffffff); /* pending bits are read-only */
	assert_int_equal(cfgr(e, e->msi + 20, 4), 0);
	/* MSI-X control: only enable and function mask; the table size stays */
	cfgw(e, e->msix + 2, 2, 0xffff);
	assert_int_equal(cfgr(e, e->msix + 2, 2), 0xc002);
	/* capability writes never reach the device's own hook, nor the header */
	assert_int_equal(cfgr(e, PCIR_VENDOR, 2), 0x1234);
}

static void assert_intx(void)
{
	pci_intx_assert(the_dev.pd);
}

/* While MSI or MSI-X is enabled the function does not drive INTx (PCI 3.0 6.8). */
static void test_intx_masked_while_msi_enabled(void **state)
{
	struct env *e = *state;
	unsigned gsi = cfgr(e, PCIR_INTLINE, 1);
	assert_intx();
	assert_true(pci_intx_level(e->vm, gsi));
	assert_false(pci_msi_enabled(the_dev.pd));
	cfgw(e, e->msi + 2, 2, 1);
	assert_true(pci_msi_enabled(the_dev.pd));
	assert_false(pci_intx_level(e->vm, gsi));
	cfgw(e, e->msi + 2, 2, 0);
	assert_true(pci_intx_level(e->vm, gsi)); /* still requested: the line comes back */
	cfgw(e, e->msix + 2, 2, 0x8000);
	assert_false(pci_intx_level(e->vm, gsi));
	cfgw(e, e->msix + 2, 2, 0);
	pci_intx_deassert(the_dev.pd);
	assert_false(pci_intx_level(e->vm, gsi));
}

static void notify0(struct env *e)
{
	pci_msi_notify(the_dev.pd, 0);
}

static void notify3(struct env *e)
{
	pci_msi_notify(the_dev.pd, 3);
}

static void unmask_msi(struct env *e)
{
	cfgw(e, e->msi + 16, 4, 0);
}

static void test_msi_mask_pending_and_vectors(void **state)
{
	struct env *e = *state;
	cfgw(e, e->msi + 4, 4, 0xfee00000);
	cfgw(e, e->msi + 12, 2, 0x4040);
	/* disabled: nothing is sent or remembered */
	assert_int_equal(stderr_lines(notify0, e), 0);
	assert_int_equal(cfgr(e, e->msi + 20, 4), 0);
	/* enabled with one vector (MME 0): vector 3 does not exist */
	cfgw(e, e->msi + 2, 2, 1);
	assert_int_equal(pci_msi_nvectors(the_dev.pd), 1);
	assert_int_equal(stderr_lines(notify3, e), 0);
	/* MME 2: four vectors */
	cfgw(e, e->msi + 2, 2, 1 | 2 << 4);
	assert_int_equal(pci_msi_nvectors(the_dev.pd), 4);
	/* masked: the message waits in the pending bits */
	cfgw(e, e->msi + 16, 4, 0x9);
	assert_int_equal(stderr_lines(notify0, e), 0);
	assert_int_equal(stderr_lines(notify3, e), 0);
	assert_int_equal(cfgr(e, e->msi + 20, 4), 0x9);
	/* unmasked: both go out (each tries its route: one line each) and stop pending */
	assert_int_equal(stderr_lines(unmask_msi, e), 2);
	assert_int_equal(cfgr(e, e->msi + 20, 4), 0);
	/* an unroutable vector is not retried on every message... */
	assert_int_equal(stderr_lines(notify0, e), 0);
	/* ...until the guest writes a new address */
	cfgw(e, e->msi + 4, 4, 0xfee01000);
	assert_int_equal(stderr_lines(notify0, e), 1);
}

static void test_msix_table_and_pba(void **state)
{
	struct env *e = *state;
	uint64_t t = e->bar0 + 0x1000, pba = e->bar0 + 0x1800;
	/* entries start masked; address, data and the mask bit read back */
	for (int v = 0; v < 3; v++)
		assert_int_equal(harness_mmio_read(e->vm, t + 16 * v + 12, 4), 1);
	harness_mmio_write(e->vm, t + 16, 8, 0x00000000fee00000ULL);
	harness_mmio_write(e->vm, t + 24, 4, 0x4041);
	harness_mmio_write(e->vm, t + 28, 4, 0xfffffffe); /* only bit 0 is writable */
	assert_int_equal(harness_mmio_read(e->vm, t + 16, 4), 0xfee00000);
	assert_int_equal(harness_mmio_read(e->vm, t + 16, 8), 0xfee00000);
	assert_int_equal(harness_mmio_read(e->vm, t + 24, 4), 0x4041);
	assert_int_equal(harness_mmio_read(e->vm, t + 28, 4), 0);
	/* none of that reached the device; the rest of the BAR does */
	assert_int_equal(the_dev.barreads + the_dev.barwrites, 0);
	assert_int_equal(harness_mmio_read(e->vm, e->bar0 + 0x10, 4), 0xabcd);
	harness_mmio_write(e->vm, e->bar0 + 0x1030, 4, 1); /* past the 3-entry table */
	assert_int_equal(the_dev.barreads, 1);
	assert_int_equal(the_dev.barwrites, 1);
	/* function masked: messages pend in the PBA */
	cfgw(e, e->msix + 2, 2, 0xc000);
	assert_true(pci_msi_enabled(the_dev.pd));
	assert_int_equal(pci_msi_nvectors(the_dev.pd), 3);
	pci_msi_notify(the_dev.pd, 1);
	pci_msi_notify(the_dev.pd, 2);
	pci_msi_notify(the_dev.pd, 7); /* out of range: ignored */
	assert_int_equal(harness_mmio_read(e->vm, pba, 8), 0x6);
	harness_mmio_write(e->vm, pba, 8, 0); /* read-only */
	assert_int_equal(harness_mmio_read(e->vm, pba, 8), 0x6);
}

static void unmask_function(struct env *e)
{
	cfgw(e, e->msix + 2, 2, 0x8000);
}

static void test_msix_unmask_sends_pending(void **state)
{
	struct env *e = *state;
	uint64_t t = e->bar0 + 0x1000, pba = e->bar0 + 0x1800;
	harness_mmio_write(e->vm, t + 16, 4, 0xfee00000);
	harness_mmio_write(e->vm, t + 28, 4, 0); /* vector 1 unmasked, 0 and 2 masked */
	cfgw(e, e->msix + 2, 2, 0xc000);
	pci_msi_notify(the_dev.pd, 1);
	pci_msi_notify(the_dev.pd, 2);
	/* the function mask goes: vector 1 is sent (its route fails here: one line), 2 stays */
	assert_int_equal(stderr_lines(unmask_function, e), 1);
	assert_int_equal(harness_mmio_read(e->vm, pba, 8), 0x4);
	/* MSI-X wins over MSI while both are enabled */
	cfgw(e, e->msi + 2, 2, 1);
	assert_int_equal(pci_msi_nvectors(the_dev.pd), 3);
}

/* A device model's mistakes are refused at init. */
static void test_add_errors(void **state)
{
	struct env *e = *state;
	struct pci_dev *pd = the_dev.pd;
	assert_int_equal(pci_msi_add(pd, 4), -EEXIST);
	assert_int_equal(pci_msix_add(pd, 0, 3, 0x1000, 0x1800), -EEXIST);
	/* a fresh function: bad vector counts, tables outside or across the BAR */
	struct pci_dev fresh = {.vm = e->vm, .emu = &md_emu};
	assert_int_equal(pci_msi_add(&fresh, 3), -EINVAL);
	assert_int_equal(pci_msi_add(&fresh, 64), -EINVAL);
	assert_int_equal(pci_msix_add(&fresh, 0, 1, 0, 0x800), -EINVAL); /* no BAR 0 */
	fresh.bar[1] = (struct pci_bar){.type = PCI_BAR_MEM32, .size = 0x1000};
	assert_int_equal(pci_msix_add(&fresh, 1, 256, 0, 0x800), -EINVAL);     /* table overlaps PBA */
	assert_int_equal(pci_msix_add(&fresh, 1, 9, 0xf80, 0x800), -EINVAL); /* past the end */
	assert_int_equal(pci_msix_add(&fresh, 1, 0, 0, 0x800), -EINVAL);
	assert_int_equal(pci_msix_add(&fresh, 1, 2049, 0, 0x800), -EINVAL);
	/* capabilities until config space is full */
	uint8_t cap[48] = {0x09, 0, 48};
	int n = 0;
	while (pci_add_cap(&fresh, cap, sizeof(cap)) > 0)
		n++;
	assert_int_equal(n, (256 - 0x40) / 48);
	assert_int_equal(pci_msi_add(&fresh, 1), -ENOSPC);
	pci_msi_free(&fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_register_write_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_masked_while_msi_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_mask_pending_and_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table_and_pba, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_unmask_sends_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
