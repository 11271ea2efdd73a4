/* SPDX-License-Identifier: BSD-2-Clause */
/* QEMU-compatible fw_cfg: the I/O-port protocol and DMA as OVMF's QemuFwCfgLib drives them, the
 * file directory, bad DMA requests, and the items a firmware boot gets (CPU count, etc/e820). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi/acpi.h"
#include "boot/fwcfg_items.h"
#include "config/config.h"
#include "core/byteorder.h"
#include "core/vm.h"
#include "devices/fw_cfg.h"
#include "vm_harness.h"

#define RAM (1u << 20)
#define DESC 0x1000
#define BUF 0x2000

struct fixture {
	uint8_t *ram;
	struct guestmem gm;
	struct fw_cfg fc;
	struct iobus bus;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof(*x));
	x->ram = calloc(1, RAM);
	guestmem_init_from(&x->gm, x->ram, RAM, 0);
	assert_int_equal(fw_cfg_init(&x->fc, &x->gm), 0);
	iobus_init(&x->bus);
	assert_int_equal(
	    iobus_register(&x->bus, IOBUS_PIO, FW_CFG_PORT_SEL, 2, fw_cfg_io, &x->fc, "fw_cfg"), 0);
	assert_int_equal(
	    iobus_register(&x->bus, IOBUS_PIO, FW_CFG_PORT_DMA, 8, fw_cfg_dma_io, &x->fc, "dma"),
	    0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;
	iobus_fini(&x->bus);
	fw_cfg_fini(&x->fc);
	free(x->ram);
	free(x);
	return 0;
}

static void pio(struct fixture *x, uint16_t port, unsigned size, bool w, uint64_t *v)
{
	assert_int_equal(iobus_dispatch(&x->bus, IOBUS_PIO, port, size, w, v), 0);
}

static void sel(struct fixture *x, uint16_t key)
{
	uint64_t v = key;
	pio(x, 0x510, 2, true, &v);
}

static void read_bytes(struct fixture *x, uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0;
		pio(x, 0x511, 1, false, &v);
		dst[i] = (uint8_t)v;
	}
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* A DMA request as QemuFwCfgLib writes it: descriptor, then the address high half at 0x514 and
 * the low half at 0x518 (both big-endian). Returns the control word afterwards. */
static uint32_t dma(struct fixture *x, uint32_t control, uint32_t len, uint64_t addr)
{
	uint8_t *d = x->ram + DESC;
	put_be32(d, control);
	put_be32(d + 4, len);
	put_be32(d + 8, (uint32_t)(addr >> 32));
	put_be32(d + 12, (uint32_t)addr);
	uint64_t hi = 0, lo = __builtin_bswap32(DESC);
	pio(x, 0x514, 4, true, &hi);
	pio(x, 0x518, 4, true, &lo);
	return be32_at(d);
}

/* Find a file in the directory through the ports, as QemuFwCfgFindFile does. */
static int find_file(struct fixture *x, const char *name, uint16_t *key, uint32_t *size)
{
	uint8_t cnt[4], e[64];
	sel(x, FW_CFG_FILE_DIR);
	read_bytes(x, cnt, 4);
	for (uint32_t i = 0; i < be32_at(cnt); i++) {
		read_bytes(x, e, 64);
		if (strcmp((char *)e + 8, name) == 0) {
			*size = be32_at(e);
			*key = (uint16_t)(e[4] << 8 | e[5]);
			return 0;
		}
	}
	return -ENOENT;
}

static void test_signature_and_id_over_ports(void **state)
{
	struct fixture *x = *state;
	uint8_t sig[6];
	sel(x, FW_CFG_SIGNATURE);
	read_bytes(x, sig, 6);
	assert_memory_equal(sig, "QEMU\0\0", 6); /* past the end: zeros */
	sel(x, FW_CFG_ID);
	uint64_t v = 0;
	pio(x, 0x511, 4, false, &v); /* a wider read takes consecutive bytes */
	assert_int_equal(v, 3);	     /* traditional interface + DMA */
	sel(x, 0x1234);		     /* no such item: empty */
	read_bytes(x, sig, 2);
	assert_int_equal(sig[0] | sig[1], 0);
	v = 0x55;
	pio(x, 0x511, 1, true, &v); /* data-port writes are ignored */
	sel(x, FW_CFG_SIGNATURE);
	read_bytes(x, sig, 1);
	assert_int_equal(sig[0], 'Q');
}

static void test_dma_signature_register(void **state)
{
	struct fixture *x = *state;
	uint64_t v = 0;
	pio(x, 0x514, 8, false, &v);
	assert_int_equal(__builtin_bswap64(v), 0x51454d5520434647ULL); /* "QEMU CFG", big-endian */
}

static void test_files_and_directory(void **state)
{
	struct fixture *x = *state;
	assert_int_equal(fw_cfg_add_file(&x->fc, "opt/a", "hello", 5), 0);
	assert_int_equal(fw_cfg_add_file(&x->fc, "opt/b", "xy", 2), 0);
	assert_int_equal(fw_cfg_add_file(&x->fc, "opt/a", "again", 5), -EEXIST);
	char longname[80];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[79] = 0;
	assert_int_equal(fw_cfg_add_file(&x->fc, longname, "x", 1), -ENAMETOOLONG);
	assert_int_equal(fw_cfg_add_item(&x->fc, FW_CFG_FILE_FIRST, "x", 1), -EINVAL);
	uint16_t key;
	uint32_t size;
	assert_int_equal(find_file(x, "opt/b", &key, &size), 0);
	assert_int_equal(key, FW_CFG_FILE_FIRST + 1);
	assert_int_equal(size, 2);
	uint8_t b[2];
	sel(x, key);
	read_bytes(x, b, 2);
	assert_memory_equal(b, "xy", 2);
	assert_int_equal(find_file(x, "opt/c", &key, &size), -ENOENT);
	/* keys run out at 0xff */
	int rc = 0;
	for (int i = 0; rc == 0 && i < 300; i++) {
		char n[16];
		snprintf(n, sizeof(n), "f%d", i);
		rc = fw_cfg_add_file(&x->fc, n, "", 0);
	}
	assert_int_equal(rc, -ENOSPC);
}

static void test_dma_read_skip_and_errors(void **state)
{
	struct fixture *x = *state;
	memset(x->ram + BUF, 0xaa, 16);
	/* select the signature and read 8 bytes: 4 of data, 4 zeros */
	uint32_t c = dma(x, (FW_CFG_SIGNATURE << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ, 8, BUF);
	assert_int_equal(c, 0);
	assert_memory_equal(x->ram + BUF, "QEMU\0\0\0\0", 8);
	assert_int_equal(x->ram[BUF + 8], 0xaa);
	/* skip then read: the offset carries over, also to the port */
	assert_int_equal(fw_cfg_add_file(&x->fc, "opt/s", "0123456789", 10), 0);
	assert_int_equal(
	    dma(x, (FW_CFG_FILE_FIRST << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP, 3, 0), 0);
	assert_int_equal(dma(x, FW_CFG_DMA_READ, 2, BUF), 0);
	assert_memory_equal(x->ram + BUF, "34", 2);
	uint8_t b;
	read_bytes(x, &b, 1);
	assert_int_equal(b, '5');
	/* writes are refused; a buffer outside RAM is an error; the data there is untouched */
	assert_int_equal(dma(x, FW_CFG_DMA_WRITE, 2, BUF), FW_CFG_DMA_ERROR);
	assert_int_equal(dma(x, FW_CFG_DMA_READ, 16, RAM - 8), FW_CFG_DMA_ERROR);
	assert_int_equal(dma(x, FW_CFG_DMA_READ, 0xffffffff, BUF), FW_CFG_DMA_ERROR);
	/* a descriptor outside RAM is dropped without touching anything */
	uint64_t hi = 0, lo = __builtin_bswap32(RAM + 0x1000);
	pio(x, 0x514, 4, true, &hi);
	pio(x, 0x518, 4, true, &lo);
	/* one 8-byte write also starts a transfer */
	uint8_t *d = x->ram + DESC;
	put_be32(d, (FW_CFG_ID << 16) | FW_CFG_DMA_SELECT | FW_CFG_DMA_READ);
	put_be32(d + 4, 4);
	put_be32(d + 8, 0);
	put_be32(d + 12, BUF);
	uint64_t a = __builtin_bswap64(DESC);
	pio(x, 0x514, 8, true, &a);
	assert_int_equal(be32_at(d), 0);
	assert_int_equal(le32_at(x->ram + BUF), 3);
}

static unsigned gsi_of(unsigned slot, unsigned pin)
{
	return 16 + ((slot + pin) & 7);
}

/* A harness VM with `ncpus` vCPUs and RAM below (and, if highmem, above) 4 GiB, only the first
 * RAM bytes backed; and the machine description fwcfg_setup builds its ACPI tables from. */
static const uint32_t fw_apic_ids[] = {0, 1, 2};

static struct vm *fw_vm(int ncpus, uint64_t highmem)
{
	struct vm *vm = harness_vm_new();
	uint8_t *ram = calloc(1, RAM);
	assert_non_null(ram);
	guestmem_init_from(&vm->mem, ram, RAM, highmem);
	vm->nvcpus = ncpus;
	return vm;
}

static struct acpi_platform fw_acpi(int ncpus)
{
	return (struct acpi_platform){
	    .ncpus = ncpus,
	    .apic_ids = fw_apic_ids,
	    .ioapic_addr = 0xFEC00000,
	    .ioapic_id = (uint8_t)ncpus,
	    .pci_io = {0x2000, 0xE000},
	    .pci_mem32 = {0x80000000, 0x7C000000},
	    .intx_gsi = gsi_of,
	    .oem_id = "BHYVE ",
	};
}

static void fw_vm_free(struct vm *vm)
{
	uint8_t *ram = vm->mem.host;
	vm->mem.host = NULL; /* not mapped by guestmem_init: freed here */
	harness_vm_free(vm);
	free(ram);
}

static void test_machine_items(void **state)
{
	struct vm *vm = fw_vm(3, 3 * RAM);
	char err[128] = "";
	struct acpi_platform acpi = fw_acpi(3);
	assert_int_equal(fwcfg_setup(vm, &acpi, err, sizeof(err)), 0);
	uint64_t v = FW_CFG_NB_CPUS;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x510, 2, true, &v), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x511, 2, false, &v), 0);
	assert_int_equal(v, 3);
	/* no display: SeaBIOS is to draw its screen on COM1, as with QEMU's -nographic */
	v = FW_CFG_NOGRAPHIC;
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x510, 2, true, &v), 0);
	assert_int_equal(iobus_dispatch(&vm->bus, IOBUS_PIO, 0x511, 2, false, &v), 0);
	assert_int_equal(v, 1);
	/* etc/e820: RAM below and above 4 GiB, KVM's private pages reserved */
	struct fixture fx = {.bus = vm->bus};
	uint16_t key;
	uint32_t size;
	assert_int_equal(find_file(&fx, "etc/e820", &key, &size), 0);
	assert_int_equal(size, 60);
	uint8_t e[60];
	sel(&fx, key);
	read_bytes(&fx, e, 60);
	assert_int_equal(le64_at(e), 0);
	assert_int_equal(le64_at(e + 8), RAM);
	assert_int_equal(le32_at(e + 16), 1);
	assert_int_equal(le64_at(e + 20), 1ULL << 32);
	assert_int_equal(le64_at(e + 28), 3 * RAM);
	assert_int_equal(le64_at(e + 40), 0xFEFFC000);
	assert_int_equal(le32_at(e + 56), 2);
	/* the ACPI tables, the RSDP and the script that links them, for OVMF's AcpiPlatformDxe */
	assert_int_equal(find_file(&fx, "etc/acpi/rsdp", &key, &size), 0);
	assert_int_equal(size, 36);
	assert_int_equal(find_file(&fx, "etc/acpi/tables", &key, &size), 0);
	assert_true(size > 36 * 5);
	assert_int_equal(find_file(&fx, "etc/table-loader", &key, &size), 0);
	assert_int_equal(size % 128, 0);
	assert_true(size >= 128 * 4);
	fw_vm_free(vm);
}

/* bhyve's -f items: strings and files after kbhyve's own items; a taken name, a missing or
 * special file is one error line naming it */
static void test_user_items(void **state)
{
	char path[] = "/tmp/kbfwcfg.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\x01\x02\x00\x03", 4), 4);
	close(fd);
	struct acpi_platform acpi = fw_acpi(1);
	static const struct {
		const char *name, *kind, *value, *err; /* err NULL: accepted */
	} cases[] = {
	    {"opt/org.example/s", "string", "hello", NULL},
	    {"opt/org.example/f", "file", NULL /* the temporary file */, NULL},
	    {"etc/e820", "string", "x",
	     "-f etc/e820: the firmware configuration already has a file "
	     "of that name"},
	    {"opt/m", "file", "/nonexistent/kb", "-f opt/m: file=/nonexistent/kb: No such file"},
	    {"opt/d", "file", "/tmp", "-f opt/d: file=/tmp: not a regular file"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm *vm = fw_vm(1, RAM);
		assert_int_equal(config_set(vm->cfg, "fwcfg.user.0.name", "opt/first"), 0);
		assert_int_equal(config_set(vm->cfg, "fwcfg.user.0.string", "1st"), 0);
		assert_int_equal(config_set(vm->cfg, "fwcfg.user.1.name", cases[i].name), 0);
		assert_int_equal(config_set(vm->cfg,
					    cases[i].kind[0] == 's' ? "fwcfg.user.1.string"
								    : "fwcfg.user.1.file",
					    cases[i].value ? cases[i].value : path),
				 0);
		char err[160] = "";
		int rc = fwcfg_setup(vm, &acpi, err, sizeof(err));
		if (cases[i].err) {
			assert_true(rc < 0);
			if (!strstr(err, cases[i].err))
				fail_msg("case %zu: got '%s'", i, err);
		} else {
			assert_int_equal(rc, 0);
			struct fixture fx = {.bus = vm->bus};
			uint16_t key;
			uint32_t size;
			uint8_t b[8] = {0};
			assert_int_equal(find_file(&fx, "opt/first", &key, &size), 0);
			assert_int_equal(size, 3);
			assert_int_equal(find_file(&fx, cases[i].name, &key, &size), 0);
			sel(&fx, key);
			read_bytes(&fx, b, size);
			if (cases[i].value) {
				assert_int_equal(size, 5);
				assert_memory_equal(b, "hello", 5);
			} else {
				assert_int_equal(size, 4);
				assert_memory_equal(b, "\x01\x02\x00\x03", 4);
			}
		}
		fw_vm_free(vm);
	}
	unlink(path);
	(void)state;
}

/* the 32-bit little-endian value of fixed item `key` (0 for an absent one) */
static uint32_t read_item(struct fixture *fx, uint16_t key)
{
	uint8_t le[4];
	sel(fx, key);
	read_bytes(fx, le, 4);
	return le32_at(le);
}

/* boot.kernel/initrd/cmdline with a boot ROM: QEMU's -kernel items for OVMF */
static void test_kernel_items(void **state)
{
	char kpath[] = "/tmp/kbfwk.XXXXXX", ipath[] = "/tmp/kbfwi.XXXXXX";
	int kfd = mkstemp(kpath), ifd = mkstemp(ipath);
	assert_true(kfd >= 0 && ifd >= 0);
	/* a bzImage: setup_sects 2 at 0x1f1, "HdrS" at 0x202; setup = 3 sectors */
	uint8_t k[4096];
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t)(i * 13);
	k[0x1f1] = 2;
	memcpy(k + 0x202, "HdrS", 4);
	assert_int_equal(write(kfd, k, sizeof(k)), (ssize_t)sizeof(k));
	assert_int_equal(write(ifd, "INITRD", 6), 6);
	close(kfd);
	close(ifd);
	struct acpi_platform acpi = fw_acpi(1);
	for (int pe = 0; pe < 2; pe++) {
		if (pe) { /* anything else (an EFI application): whole, no setup */
			memcpy(k + 0x202, "MZxx", 4);
			kfd = open(kpath, O_WRONLY);
			assert_int_equal(pwrite(kfd, k + 0x202, 4, 0x202), 4);
			close(kfd);
		}
		struct vm *vm = fw_vm(1, RAM);
		assert_int_equal(config_set(vm->cfg, "boot.kernel", kpath), 0);
		if (!pe) {
			assert_int_equal(config_set(vm->cfg, "boot.initrd", ipath), 0);
			assert_int_equal(config_set(vm->cfg, "boot.cmdline", "console=ttyS0"), 0);
		}
		char err[160] = "";
		assert_int_equal(fwcfg_setup(vm, &acpi, err, sizeof(err)), 0);
		struct fixture fx = {.bus = vm->bus};
		uint8_t *buf = malloc(sizeof(k));
		uint32_t setup = pe ? 0 : 3 * 512;
		assert_int_equal(read_item(&fx, FW_CFG_SETUP_SIZE), setup);
		assert_int_equal(read_item(&fx, FW_CFG_KERNEL_SIZE), sizeof(k) - setup);
		if (setup) {
			sel(&fx, FW_CFG_SETUP_DATA);
			read_bytes(&fx, buf, setup);
			assert_memory_equal(buf, k, setup);
		}
		sel(&fx, FW_CFG_KERNEL_DATA);
		read_bytes(&fx, buf, sizeof(k) - setup);
		assert_memory_equal(buf, k + setup, sizeof(k) - setup);
		if (!pe) {
			assert_int_equal(read_item(&fx, FW_CFG_INITRD_SIZE), 6);
			sel(&fx, FW_CFG_INITRD_DATA);
			read_bytes(&fx, buf, 6);
			assert_memory_equal(buf, "INITRD", 6);
			assert_int_equal(read_item(&fx, FW_CFG_CMDLINE_SIZE), 14);
			sel(&fx, FW_CFG_CMDLINE_DATA);
			read_bytes(&fx, buf, 14);
			assert_memory_equal(buf, "console=ttyS0", 14); /* NUL included */
		} else {
			assert_int_equal(read_item(&fx, FW_CFG_INITRD_SIZE), 0);
			assert_int_equal(read_item(&fx, FW_CFG_CMDLINE_SIZE), 0);
		}
		free(buf);
		fw_vm_free(vm);
	}
	unlink(kpath);
	unlink(ipath);
	(void)state;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_signature_and_id_over_ports),  T(test_dma_signature_register),
	    T(test_files_and_directory),	  T(test_dma_read_skip_and_errors),
	    cmocka_unit_test(test_machine_items), cmocka_unit_test(test_user_items),
	    cmocka_unit_test(test_kernel_items),
	};
	return cmocka_run_group_tests_name("fw_cfg", tests, NULL, NULL);
}
