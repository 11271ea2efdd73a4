/* SPDX-License-Identifier: BSD-2-Clause */
/* fw_cfg "bootorder" from bootindex=: the OpenFirmware paths OVMF and SeaBIOS match, lowest index
 * first, NUL-terminated; bad and repeated indexes are one line each. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/bootorder.h"
#include "config/config.h"

static char err[256];

static int build(struct cfgnode *cfg, char **out, size_t *len)
{
	err[0] = '\0';
	return bootorder_build(cfg, out, len, err, sizeof(err));
}

static void test_no_bootindex_no_file(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "pci.0.4.0.device", "virtio-blk");
	char *out = (char *)1;
	size_t len = 7;
	assert_int_equal(build(cfg, &out, &len), 0);
	assert_null(out);
	assert_int_equal(len, 0);
	config_free(cfg);
	(void)state;
}

static void test_paths_in_index_order(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "pci.0.4.0.device", "virtio-blk");
	config_set(cfg, "pci.0.4.0.bootindex", "2");
	config_set(cfg, "pci.0.5.1.device", "virtio-blk");
	config_set(cfg, "pci.0.5.1.bootindex", "1");
	config_set(cfg, "pci.0.30.0.device", "virtio-net");
	config_set(cfg, "pci.0.30.0.bootindex", "0");
	config_set(cfg, "pci.2.3.0.device", "virtio-blk");
	config_set(cfg, "pci.2.3.0.bootindex", "9");
	config_set(cfg, "pci.0.6.0.device", "virtio-blk"); /* no index: not listed */
	char *out;
	size_t len;
	assert_int_equal(build(cfg, &out, &len), 0);
	static const char want[] = "/pci@i0cf8/pci@1e\n/pci@i0cf8/pci@5,1\n/pci@i0cf8/pci@4\n"
				   "/pci@i0cf8,2/pci@3";
	assert_int_equal(len, sizeof(want)); /* the NUL counts, as in QEMU's file */
	assert_memory_equal(out, want, sizeof(want));
	free(out);
	config_free(cfg);
	(void)state;
}

/* AHCI ports (pci.B.S.F.port.N.bootindex): the controller under the node name OVMF's parser
 * knows (pci8086,2922), then drive@N/disk@0. Two ports
 * of one controller are two devices; a port and another device cannot share an index. */
static void test_ahci_ports(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "pci.0.4.0.device", "ahci");
	config_set(cfg, "pci.0.4.0.port.0.type", "hd");
	config_set(cfg, "pci.0.4.0.port.0.bootindex", "3");
	config_set(cfg, "pci.0.4.0.port.1.type", "cd");
	config_set(cfg, "pci.0.4.0.port.1.bootindex", "1");
	config_set(cfg, "pci.0.4.0.port.2.type", "hd"); /* no index */
	config_set(cfg, "pci.0.5.2.device", "ahci-cd");
	config_set(cfg, "pci.0.5.2.port.0.bootindex", "2");
	config_set(cfg, "pci.0.6.0.device", "virtio-blk");
	config_set(cfg, "pci.0.6.0.bootindex", "0");
	char *out;
	size_t len;
	assert_int_equal(build(cfg, &out, &len), 0);
	static const char want[] = "/pci@i0cf8/pci@6\n/pci@i0cf8/pci8086,2922@4/drive@1/disk@0\n"
				   "/pci@i0cf8/pci8086,2922@5,2/drive@0/disk@0\n"
				   "/pci@i0cf8/pci8086,2922@4/drive@0/disk@0";
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	free(out);
	config_set(cfg, "pci.0.6.0.bootindex", "1");
	assert_int_equal(build(cfg, &out, &len), -EINVAL);
	assert_string_equal(err, "bootindex=1 is given to two devices (0:4:0 port 1 and 0:6:0)");
	config_set(cfg, "pci.0.6.0.bootindex", "0");
	config_set(cfg, "pci.0.4.0.port.2.bootindex", "x");
	assert_int_equal(build(cfg, &out, &len), -EINVAL);
	assert_string_equal(err, "pci.0.4.0.port.2.bootindex=x: expected a number from 0 to 65535");
	config_free(cfg);
	(void)state;
}

static void test_bad_index_one_line(void **state)
{
	static const char *const bad[] = {"x", "-1", "65536", "", "1x", " 1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfgnode *cfg = config_new();
		config_set(cfg, "pci.0.4.0.device", "virtio-blk");
		config_set(cfg, "pci.0.4.0.bootindex", bad[i]);
		char *out;
		size_t len;
		assert_int_equal(build(cfg, &out, &len), -EINVAL);
		assert_null(out);
		assert_non_null(strstr(err, "pci.0.4.0.bootindex="));
		assert_non_null(strstr(err, "expected a number from 0 to 65535"));
		assert_null(strchr(err, '\n'));
		config_free(cfg);
	}
	(void)state;
}

static void test_repeated_index_refused(void **state)
{
	struct cfgnode *cfg = config_new();
	config_set(cfg, "pci.0.4.0.bootindex", "1");
	config_set(cfg, "pci.0.7.0.bootindex", "1");
	char *out;
	size_t len;
	assert_int_equal(build(cfg, &out, &len), -EINVAL);
	assert_string_equal(err, "bootindex=1 is given to two devices (0:4:0 and 0:7:0)");
	config_free(cfg);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_bootindex_no_file),
	    cmocka_unit_test(test_paths_in_index_order),
	    cmocka_unit_test(test_bad_index_one_line),
	    cmocka_unit_test(test_repeated_index_refused),
	    cmocka_unit_test(test_ahci_ports),
	};
	return cmocka_run_group_tests_name("bootorder", tests, NULL, NULL);
}
