/* SPDX-License-Identifier: BSD-2-Clause */
/* fbuf: the DISPI register semantics, the EDID, the option parser, and the device as a guest
 * driver sees it through PCI (Bochs and bhyve models). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/options.h"
#include "fbuf/fbuf_config.h"
#include "fbuf/fbuf_dispi.h"
#include "fbuf/fbuf_edid.h"
#include "pci/pci.h"
#include "vm_harness.h"

#define VRAM (32u << 20)

/* Linux bochs_hw_setmode's order of writes */
static void linux_setmode(struct dispi *d, unsigned w, unsigned h, unsigned bpp)
{
	dispi_write(d, DISPI_INDEX_ENABLE, 0);
	dispi_write(d, DISPI_INDEX_BPP, (uint16_t)bpp);
	dispi_write(d, DISPI_INDEX_XRES, (uint16_t)w);
	dispi_write(d, DISPI_INDEX_YRES, (uint16_t)h);
	dispi_write(d, DISPI_INDEX_BANK, 0);
	dispi_write(d, DISPI_INDEX_VIRT_WIDTH, (uint16_t)w);
	dispi_write(d, DISPI_INDEX_VIRT_HEIGHT, (uint16_t)h);
	dispi_write(d, DISPI_INDEX_X_OFFSET, 0);
	dispi_write(d, DISPI_INDEX_Y_OFFSET, 0);
	dispi_write(d, DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
}

static void test_dispi_identity_and_caps(void **state)
{
	struct dispi d;
	dispi_reset(&d, VRAM);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_ID), 0xb0c5);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_VIDEO_MEMORY_64K), 512);
	dispi_write(&d, DISPI_INDEX_VIDEO_MEMORY_64K, 1); /* read-only */
	assert_int_equal(dispi_read(&d, DISPI_INDEX_VIDEO_MEMORY_64K), 512);
	dispi_write(&d, DISPI_INDEX_ID, 0xb0c2); /* a version the driver speaks */
	assert_int_equal(dispi_read(&d, DISPI_INDEX_ID), 0xb0c2);
	dispi_write(&d, DISPI_INDEX_ID, 0x1234); /* not a DISPI version: ignored */
	assert_int_equal(dispi_read(&d, DISPI_INDEX_ID), 0xb0c2);
	dispi_write(&d, DISPI_INDEX_XRES, 800);
	dispi_write(&d, DISPI_INDEX_ENABLE, DISPI_GETCAPS);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_XRES), DISPI_MAX_XRES);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_YRES), DISPI_MAX_YRES);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_BPP), 32);
	dispi_write(&d, DISPI_INDEX_ENABLE, 0);
	assert_int_equal(dispi_read(&d, DISPI_INDEX_XRES), 800);
	assert_int_equal(dispi_read(&d, 0x40), 0); /* past the registers */
	dispi_write(&d, 0x40, 5);
}

static void test_dispi_modes(void **state)
{
	struct dispi d;
	struct display_mode m;
	const char *why;
	dispi_reset(&d, VRAM);
	assert_false(dispi_mode(&d, &m, &why)); /* disabled at reset */
	assert_null(why);
	linux_setmode(&d, 1024, 768, 32);
	assert_true(dispi_mode(&d, &m, &why));
	assert_int_equal(m.width, 1024);
	assert_int_equal(m.height, 768);
	assert_int_equal(m.bpp, 32);
	assert_int_equal(m.stride, 4096);
	assert_int_equal(m.offset, 0);
	/* panning: a y offset moves the scan-out by whole lines */
	dispi_write(&d, DISPI_INDEX_Y_OFFSET, 768);
	assert_true(dispi_mode(&d, &m, NULL));
	assert_int_equal(m.offset, 768 * 4096);
	linux_setmode(&d, 3840, 2160, 32); /* the largest fits in 32 MiB */
	assert_true(dispi_mode(&d, &m, NULL));
	linux_setmode(&d, 800, 600, 16);
	assert_true(dispi_mode(&d, &m, NULL));
	assert_int_equal(m.stride, 1600);
	/* enabling without a virtual size takes the visible one */
	dispi_reset(&d, VRAM);
	dispi_write(&d, DISPI_INDEX_XRES, 640);
	dispi_write(&d, DISPI_INDEX_YRES, 480);
	dispi_write(&d, DISPI_INDEX_ENABLE, DISPI_ENABLED);
	assert_true(dispi_mode(&d, &m, NULL));
	assert_int_equal(m.stride, 2560);
}

static void test_dispi_impossible_modes(void **state)
{
	struct dispi d;
	struct display_mode m;
	const char *why;
	dispi_reset(&d, VRAM);
	linux_setmode(&d, 1024, 768, 24);
	assert_false(dispi_mode(&d, &m, &why));
	assert_non_null(why);
	linux_setmode(&d, 10, 10, 32);
	assert_false(dispi_mode(&d, &m, &why));
	assert_non_null(why);
	linux_setmode(&d, 4096, 2160, 32);
	assert_false(dispi_mode(&d, &m, &why));
	/* a scan-out past the end of VRAM: an offset near the top, or a huge virtual width */
	linux_setmode(&d, 1024, 768, 32);
	dispi_write(&d, DISPI_INDEX_Y_OFFSET, 0xffff);
	assert_false(dispi_mode(&d, &m, &why));
	assert_non_null(why);
	linux_setmode(&d, 1024, 768, 32);
	dispi_write(&d, DISPI_INDEX_VIRT_WIDTH, 0xffff);
	dispi_write(&d, DISPI_INDEX_X_OFFSET, 0xffff);
	assert_false(dispi_mode(&d, &m, &why));
	/* the last byte of the scan-out is the last byte of VRAM: fits */
	linux_setmode(&d, 1024, 768, 32);
	dispi_write(&d, DISPI_INDEX_Y_OFFSET, (uint16_t)(VRAM / 4096 - 768));
	assert_true(dispi_mode(&d, &m, NULL));
	dispi_write(&d, DISPI_INDEX_Y_OFFSET, (uint16_t)(VRAM / 4096 - 767));
	assert_false(dispi_mode(&d, &m, NULL));
}

static void check_edid(unsigned w, unsigned h)
{
	uint8_t e[FBUF_EDID_SIZE];
	fbuf_edid_build(e, w, h);
	static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	assert_memory_equal(e, header, 8);
	uint8_t sum = 0;
	for (int i = 0; i < FBUF_EDID_SIZE; i++)
		sum += e[i];
	assert_int_equal(sum, 0);
	assert_int_equal(e[18], 1);
	assert_int_equal(e[19], 4);
	const uint8_t *dtd = e + 54;
	assert_true((dtd[0] | dtd[1] << 8) > 0); /* a timing, not a text descriptor */
	assert_int_equal(dtd[2] | (dtd[4] & 0xf0) << 4, w);
	assert_int_equal(dtd[5] | (dtd[7] & 0xf0) << 4, h);
	unsigned hblank = dtd[3] | (dtd[4] & 0xf) << 8, vblank = dtd[6] | (dtd[7] & 0xf) << 8;
	unsigned long clk = (unsigned long)(dtd[0] | dtd[1] << 8) * 10000;
	double hz = (double)clk / ((w + hblank) * (double)(h + vblank));
	assert_true(hz > 59.5 && hz < 60.5);
	/* a monitor name descriptor */
	bool name = false;
	for (int i = 72; i < 126; i += 18)
		if (e[i] == 0 && e[i + 3] == 0xfc && memcmp(e + i + 5, "kbhyve", 6) == 0)
			name = true;
	assert_true(name);
}

static void test_edid(void **state)
{
	check_edid(1024, 768);
	check_edid(640, 480);
	check_edid(800, 600);
	check_edid(1280, 720);
	check_edid(3840, 2160);
}

static void test_listen_parse(void **state)
{
	char host[64], err[256];
	unsigned port;
	assert_int_equal(fbuf_parse_listen("5901", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 5901);
	assert_int_equal(fbuf_parse_listen("0.0.0.0:5900", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(fbuf_parse_listen("[::]:5900", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::");
	assert_int_equal(fbuf_parse_listen("[fe80::1%eth0]:5905", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "fe80::1%eth0");
	assert_int_equal(port, 5905);
	assert_int_equal(fbuf_parse_listen("localhost:1", host, sizeof(host), &port, err, sizeof(err)), 0);
	assert_string_equal(host, "localhost");
	static const char *const bad[] = {"", "[::1]5900", "::1:5900", "1.2.3.4:", "1.2.3.4:70000",
					  ":5900", "[]:5900", "[::1", "port", "-1", "1.2.3.4:+5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(fbuf_parse_listen(bad[i], host, sizeof(host), &port, err, sizeof(err)),
				 -22);
		assert_non_null(strstr(err, "fbuf: "));
		assert_null(strchr(err, '\n'));
	}
}

/* The config of the last call stays alive (c->password points into it) until the next. */
static struct cfgnode *last_root;

static int read_opts(const char *opts, struct fbuf_config *c, char *err, size_t errlen)
{
	config_free(last_root);
	last_root = config_new();
	struct cfgnode *n = config_node_create(last_root, "pci.0.29.0");
	int rc = pci_parse_legacy_config(n, opts);
	if (rc == 0)
		rc = fbuf_read_config(n, c, err, errlen);
	return rc;
}

static void test_config(void **state)
{
	struct fbuf_config c;
	char err[256];
	assert_int_equal(read_opts("tcp=0.0.0.0:5900,w=800,h=600,wait", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "0.0.0.0");
	assert_int_equal(c.port, 5900);
	assert_int_equal(c.width, 800);
	assert_int_equal(c.height, 600);
	assert_true(c.wait);
	assert_int_equal(c.vga, FBUF_VGA_IO);
	assert_int_equal(c.model, FBUF_MODEL_BOCHS);
	assert_int_equal(read_opts("vga=off", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "127.0.0.1");
	assert_int_equal(c.port, 5900);
	assert_int_equal(c.width, 1024);
	assert_int_equal(c.height, 768);
	assert_false(c.wait);
	assert_int_equal(c.vga, FBUF_VGA_OFF);
	/* rfb= wins over tcp=; model=bhyve; an unknown key (tablet, seen in the wild) is ignored */
	assert_int_equal(read_opts("tcp=1.1.1.1:1,rfb=[::1]:5999,model=bhyve,tablet", &c, err, sizeof(err)), 0);
	assert_string_equal(c.host, "::1");
	assert_int_equal(c.port, 5999);
	assert_int_equal(c.model, FBUF_MODEL_BHYVE);
	assert_int_equal(read_opts("w=3840,h=2160,password=secret", &c, err, sizeof(err)), 0);
	assert_string_equal(c.password, "secret");
	static const char *const bad[] = {"w=10", "h=99999", "w=639", "h=2161", "w=abc", "w=-800",
					  "vga=maybe", "model=cirrus", "wait=perhaps", "tcp=::1:5900"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(read_opts(bad[i], &c, err, sizeof(err)), -22);
		assert_non_null(strstr(err, "fbuf: "));
	}
	config_free(last_root);
	last_root = NULL;
}

/* --- the device through PCI --- */

#define SLOT 29

static struct vm *make_vm(const char *opts)
{
	struct vm *vm = harness_vm_new();
	assert_int_equal(harness_add_device(vm, SLOT, "fbuf", opts), 0);
	assert_int_equal(pci_init_all(vm), 0);
	harness_cfg_write(vm, SLOT, PCIR_COMMAND, 2, 0x2); /* memory decoding */
	return vm;
}

static uint64_t bar_addr(struct vm *vm, int bar)
{
	return harness_cfg_read(vm, SLOT, PCIR_BAR0 + 4 * bar, 4) & ~0xfULL;
}

static void test_bochs_device(void **state)
{
	struct vm *vm = make_vm("tcp=127.0.0.1:0,w=800,h=600");
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_VENDOR, 2), 0x1234);
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_DEVICE, 2), 0x1111);
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_REVID, 4), 0x03800002);
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_BAR0, 4) & 0xf, 0x8); /* prefetchable */
	/* VRAM size as a driver sizes BAR0 */
	uint32_t bar0 = harness_cfg_read(vm, SLOT, PCIR_BAR0, 4);
	harness_cfg_write(vm, SLOT, PCIR_COMMAND, 2, 0);
	harness_cfg_write(vm, SLOT, PCIR_BAR0, 4, 0xffffffff);
	assert_int_equal(~(harness_cfg_read(vm, SLOT, PCIR_BAR0, 4) & ~0xfu) + 1, VRAM);
	harness_cfg_write(vm, SLOT, PCIR_BAR0, 4, bar0);
	harness_cfg_write(vm, SLOT, PCIR_COMMAND, 2, 0x2);
	uint64_t mmio = bar_addr(vm, 2), vram = bar_addr(vm, 0);
	assert_true(mmio != 0 && vram != 0);
	/* the EDID at BAR2+0: header and the preferred 800x600 */
	assert_int_equal(harness_mmio_read(vm, mmio, 4), 0xffffff00);
	assert_int_equal(harness_mmio_read(vm, mmio + 56, 1), 800 & 0xff);
	/* DISPI at 0x500: ID and VRAM size; QEMU extension at 0x600: size and byte order */
	assert_int_equal(harness_mmio_read(vm, mmio + 0x500, 2), 0xb0c5);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x500 + 2 * 0xa, 2), 512);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x600, 4), 8);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x604, 4), 0x1e1e1e1e);
	/* a mode through MMIO, two registers in one 32-bit write */
	harness_mmio_write(vm, mmio + 0x500 + 2 * DISPI_INDEX_XRES, 4, 768u << 16 | 1024);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x500 + 2 * DISPI_INDEX_YRES, 2), 768);
	/* the VGA window: the input-status read that resets the attribute flip-flop reads 0 */
	harness_mmio_write(vm, mmio + 0x400, 1, 0x20);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x400, 1), 0x20);
	assert_int_equal(harness_mmio_read(vm, mmio + 0x41a, 1), 0);
	/* VRAM through MMIO exits (no KVM slot here): what is written reads back; past the end: 0 */
	harness_mmio_write(vm, vram + 4096, 4, 0x00abcdef);
	assert_int_equal(harness_mmio_read(vm, vram + 4096, 4), 0x00abcdef);
	harness_mmio_write(vm, vram + VRAM - 4, 4, 0x11223344);
	assert_int_equal(harness_mmio_read(vm, vram + VRAM - 4, 4), 0x11223344);
	/* EDID is read-only; unknown offsets read 0 */
	harness_mmio_write(vm, mmio, 4, 0);
	assert_int_equal(harness_mmio_read(vm, mmio, 4), 0xffffff00);
	assert_int_equal(harness_mmio_read(vm, mmio + 0xf00, 4), 0);
	harness_vm_free(vm);
}

static void test_bhyve_model(void **state)
{
	struct vm *vm = make_vm("tcp=127.0.0.1:0,model=bhyve");
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_VENDOR, 2), 0xfb5d);
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_DEVICE, 2), 0x40fb);
	assert_int_equal(harness_cfg_read(vm, SLOT, PCIR_REVID, 4) >> 16, 0x0300);
	uint64_t regs = bar_addr(vm, 0);
	assert_int_equal(harness_mmio_read(vm, regs, 4), VRAM);
	harness_mmio_write(vm, regs + 4, 4, 600u << 16 | 800);
	harness_mmio_write(vm, regs + 8, 2, 32);
	assert_int_equal(harness_mmio_read(vm, regs + 4, 2), 800);
	assert_int_equal(harness_mmio_read(vm, regs + 6, 2), 600);
	assert_int_equal(harness_mmio_read(vm, regs + 8, 2), 32);
	harness_mmio_write(vm, regs, 4, 1); /* fbsize is read-only */
	assert_int_equal(harness_mmio_read(vm, regs, 4), VRAM);
	harness_vm_free(vm);
}

static void test_one_fbuf_per_vm(void **state)
{
	struct vm *vm = harness_vm_new();
	assert_int_equal(harness_add_device(vm, 28, "fbuf", "tcp=127.0.0.1:0"), 0);
	assert_int_equal(harness_add_device(vm, 29, "fbuf", "tcp=127.0.0.1:0"), 0);
	assert_true(pci_init_all(vm) < 0);
	harness_vm_free(vm);
	/* and the refusals of bad options at init */
	vm = harness_vm_new();
	assert_int_equal(harness_add_device(vm, 29, "fbuf", "w=10"), 0);
	assert_true(pci_init_all(vm) < 0);
	harness_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispi_identity_and_caps),
	    cmocka_unit_test(test_dispi_modes),
	    cmocka_unit_test(test_dispi_impossible_modes),
	    cmocka_unit_test(test_edid),
	    cmocka_unit_test(test_listen_parse),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_bochs_device),
	    cmocka_unit_test(test_bhyve_model),
	    cmocka_unit_test(test_one_fbuf_per_vm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
