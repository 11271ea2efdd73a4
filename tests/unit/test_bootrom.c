/* SPDX-License-Identifier: BSD-2-Clause */
/* -l bootrom: reading the firmware files (real files), the BIOS segments below 1 MiB, and the
 * chipset a boot ROM brings: i440FX host bridge identity, PIIX4 PM at 0:1.3 pointing at the PM
 * block (and moving an alias of it where a BIOS programs it), the 0xB004 shutdown port; direct
 * kernel boot keeps bhyve's identity. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/bootrom.h"
#include "core/exitcode.h"
#include "core/guestmem.h"
#include "core/iobus.h"
#include "core/machine.h"
#include "core/vm.h"
#include "pci/pci.h"
#include "vm_harness.h"

static char dir[] = "/tmp/kbhyve-bootrom-XXXXXX";
static char code_path[128], vars_path[128];

/* A firmware-shaped CODE (a jump in its last 16 bytes) and a VARS of the matching size. */
static void make_file(const char *path, size_t size, bool reset_vector)
{
	uint8_t *buf = calloc(1, size);
	assert_non_null(buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(i * 13);
	if (!reset_vector)
		memset(buf + size - 16, 0xff, 16);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	snprintf(code_path, sizeof(code_path), "%s/CODE.fd", dir);
	snprintf(vars_path, sizeof(vars_path), "%s/VARS.fd", dir);
	make_file(code_path, 0x37C000, true);
	make_file(vars_path, 0x84000, true);
	return 0;
}

static int teardown(void **state)
{
	unlink(code_path);
	unlink(vars_path);
	rmdir(dir);
	return 0;
}

static void test_layout_ovmf_4m(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "lpc.bootrom", code_path);
	config_set(cfg, "lpc.bootvars", vars_path);
	struct bootrom *br;
	char err[256] = "";
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), 0);
	assert_non_null(br);
	assert_int_equal(br->code_base, 0xFFC84000); /* CODE ends at 4 GiB */
	assert_int_equal(br->vars_base, 0xFFC00000); /* VARS below it, where OVMF looks */
	assert_int_equal(br->code[0x10], (uint8_t)(0x10 * 13));
	bootrom_free(br);
	/* the combined image alone (OVMF.fd style) */
	config_unset(cfg, "lpc.bootvars");
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), 0);
	assert_null(br->vars);
	bootrom_free(br);
	config_free(cfg);
}

/* 0xE0000-0xFFFFF holds the last 128 KiB of CODE (all of a smaller image), where a BIOS runs. */
static void test_isa_bios_alias(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "lpc.bootrom", code_path);
	struct bootrom *br;
	char err[256] = "";
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), 0);
	struct guestmem gm;
	uint8_t *ram = calloc(1, 2 << 20);
	assert_non_null(ram);
	guestmem_init_from(&gm, ram, 2 << 20, 0);
	bootrom_fill_isa_bios(&gm, br);
	assert_memory_equal(ram + 0xE0000, br->code + br->code_size - 0x20000, 0x20000);
	assert_int_equal(ram[0xDFFFF], 0);
	assert_int_equal(ram[0x100000], 0);
	bootrom_free(br);
	/* a 64 KiB BIOS sits at 0xF0000 */
	char small[160];
	snprintf(small, sizeof(small), "%s/bios.bin", dir);
	make_file(small, 0x10000, true);
	config_set(cfg, "lpc.bootrom", small);
	memset(ram, 0, 2 << 20);
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), 0);
	bootrom_fill_isa_bios(&gm, br);
	assert_memory_equal(ram + 0xF0000, br->code, 0x10000);
	assert_int_equal(ram[0xEFFFF], 0);
	bootrom_free(br);
	unlink(small);
	free(ram);
	config_free(cfg);
}

static void test_no_bootrom(void **state)
{
	struct cfgnode *cfg = config_new();
	struct bootrom *br = (struct bootrom *)1;
	char err[256] = "";
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), 0);
	assert_null(br);
	config_free(cfg);
}

static void test_rejects_rom_without_reset_vector(void **state)
{
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/blank.fd", dir);
	make_file(bad, 0x10000, false);
	struct cfgnode *cfg = config_new();
	config_set(cfg, "lpc.bootrom", bad);
	struct bootrom *br;
	char err[256] = "";
	assert_int_equal(bootrom_open(cfg, &br, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a firmware image"));
	assert_non_null(strstr(err, bad));
	unlink(bad);
	config_free(cfg);
}

static uint32_t cfg_read_fn(struct vm *vm, unsigned slot, unsigned fn, unsigned reg, unsigned size)
{
	uint64_t a = 0x80000000u | (slot << 11) | (fn << 8) | (reg & 0xfc), v = 0;
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a);
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, false, &v);
	return (uint32_t)v;
}

static void cfg_write_fn(struct vm *vm, unsigned slot, unsigned fn, unsigned reg, unsigned size,
			 uint32_t val)
{
	uint64_t a = 0x80000000u | (slot << 11) | (fn << 8) | (reg & 0xfc), v = val;
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcf8, 4, true, &a);
	iobus_dispatch(&vm->bus, IOBUS_PIO, 0xcfc + (reg & 3), size, true, &v);
}

static struct vm *firmware_vm(bool with_rom)
{
	struct vm *vm = harness_vm_new();
	if (with_rom) {
		config_set(vm->cfg, "lpc.bootrom", code_path);
		char err[256] = "";
		assert_int_equal(bootrom_open(vm->cfg, &vm->bootrom, err, sizeof(err)), 0);
	}
	return vm;
}

static void free_vm(struct vm *vm)
{
	struct bootrom *br = vm->bootrom;
	harness_vm_free(vm);
	bootrom_free(br);
}

static void test_chipset_with_bootrom(void **state)
{
	struct vm *vm = firmware_vm(true);
	harness_add_device(vm, 0, "hostbridge", NULL);
	harness_add_device(vm, 31, "lpc", NULL);
	char err[256] = "";
	assert_int_equal(machine_setup(vm, err, sizeof(err)), 0);
	assert_int_equal(cfg_read_fn(vm, 0, 0, 0, 4), 0x12378086); /* i440FX */
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0, 4), 0x71138086); /* PIIX4 PM */
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0x40, 4), 0x401);   /* PMBA: our PM block */
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0x80, 1) & 1, 1);   /* PMIOSE set: OVMF keeps it */
	/* SeaBIOS programs its own base (0x600) and reads its timer at base + 8: the block answers
	 * there too, and stays at the FADT's 0x400 */
	cfg_write_fn(vm, 1, 3, 0x40, 4, 0x601);
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0x40, 4), 0x601);
	uint64_t t1 = 0, t2 = 0, t3 = 0;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x608, 4, false, &t1), 0);
	usleep(2000);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x408, 4, false, &t2), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x608, 4, false, &t3), 0);
	assert_true(t1 != t2 && t2 != t3); /* a running PM timer, the same one at both bases */
	assert_true(t3 - t1 < 0x1000000 && t3 - t2 < 0x1000000);
	cfg_write_fn(vm, 1, 3, 0x80, 1, 0); /* PMIOSE off: the alias goes, the FADT's block stays */
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x608, 4, false, &t1), -ENOENT);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x408, 4, false, &t1), 0);
	cfg_write_fn(vm, 1, 3, 0x80, 1, 1);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x608, 4, false, &t1), 0);
	/* a base where another device decodes (the 0xB004 shutdown port): no alias, no takeover */
	cfg_write_fn(vm, 1, 3, 0x40, 4, 0xb001);
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0x40, 4), 0xb001);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x608, 4, false, &t1), -ENOENT);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xb008, 4, false, &t1), -ENOENT);
	cfg_write_fn(vm, 1, 3, 0x40, 4, 0x401); /* back home */
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0x40, 4), 0x401);
	assert_int_equal(cfg_read_fn(vm, 1, 0, 0, 4), 0xffffffff); /* no function 0 in slot 1 */
	/* the firmware's ResetShutdown: SLP_TYP 0 | SLP_EN at 0xB004 powers off */
	uint64_t v = 0x2000;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xb004, 2, true, &v), 0);
	assert_int_equal(atomic_load(&vm->exit_code), BHYVE_EXIT_POWEROFF);
	free_vm(vm);
}

static void test_lpc_in_slot_1_becomes_multifunction(void **state)
{
	struct vm *vm = firmware_vm(true);
	harness_add_device(vm, 0, "amd_hostbridge", NULL);
	harness_add_device(vm, 1, "lpc", NULL);
	char err[256] = "";
	assert_int_equal(machine_setup(vm, err, sizeof(err)), 0);
	assert_int_equal(cfg_read_fn(vm, 0, 0, 0, 4), 0x12378086);
	assert_int_equal(cfg_read_fn(vm, 1, 0, 0, 4), 0x70008086);
	assert_int_equal(cfg_read_fn(vm, 1, 0, 0x0e, 1) & 0x80, 0x80);
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0, 4), 0x71138086);
	free_vm(vm);
}

static void test_direct_boot_keeps_bhyve_identity(void **state)
{
	struct vm *vm = firmware_vm(false);
	harness_add_device(vm, 0, "hostbridge", NULL);
	harness_add_device(vm, 31, "lpc", NULL);
	/* machine_setup would go on to boot a kernel: devices and PCI alone */
	char err[256] = "";
	assert_int_equal(machine_init_devices(vm, err, sizeof(err)), 0);
	assert_int_equal(pci_init_all(vm), 0);
	assert_int_equal(cfg_read_fn(vm, 0, 0, 0, 4), 0x12751275);
	assert_int_equal(cfg_read_fn(vm, 1, 3, 0, 4), 0xffffffff);
	uint64_t v = 0x2000;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0xb004, 2, true, &v), -ENOENT);
	free_vm(vm);
}

static void test_bootrom_needs_hostbridge_and_free_1_3(void **state)
{
	struct vm *vm = firmware_vm(true);
	harness_add_device(vm, 31, "lpc", NULL);
	char err[256] = "";
	assert_int_equal(machine_setup(vm, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs a host bridge at 0:0.0"));
	free_vm(vm);

	vm = firmware_vm(true);
	harness_add_device(vm, 0, "hostbridge", NULL);
	config_set(vm->cfg, "pci.0.1.3.device", "hostbridge");
	assert_int_equal(machine_setup(vm, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pci.0.1.3"));
	free_vm(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_ovmf_4m),
	    cmocka_unit_test(test_isa_bios_alias),
	    cmocka_unit_test(test_no_bootrom),
	    cmocka_unit_test(test_rejects_rom_without_reset_vector),
	    cmocka_unit_test(test_chipset_with_bootrom),
	    cmocka_unit_test(test_lpc_in_slot_1_becomes_multifunction),
	    cmocka_unit_test(test_direct_boot_keeps_bhyve_identity),
	    cmocka_unit_test(test_bootrom_needs_hostbridge_and_free_1_3),
	};
	return cmocka_run_group_tests_name("bootrom", tests, setup, teardown);
}
