/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for loader="grub"'s grub.cfg (src/vm/grubcfg.c): vm-bhyve's grub keys as
 * grub-bhyve reads them, and the refused values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/grubcfg.h"
#include "vm/vmconf.h"

static char *T;
static char E[256];

static int make(const char *conf_text, bool install)
{
	struct vmconf *conf;
	char perr[256];
	assert_int_equal(vmconf_parse(&conf, conf_text, "g.conf", perr, sizeof(perr)), 0);
	free(T);
	T = NULL;
	E[0] = '\0';
	int r = grubcfg_build(conf, "web1", install, &T, E, sizeof(E));
	vmconf_free(conf);
	return r;
}

static void body_is(const char *want)
{
	/* a comment naming the guest, then the partition maps */
	assert_non_null(T);
	assert_memory_equal(T, "# made by vm for guest web1", 27);
	const char *body = strchr(T, '\n') + 1;
	static const char maps[] = "insmod part_msdos\ninsmod part_gpt\ninsmod part_bsd\n";
	assert_memory_equal(body, maps, sizeof(maps) - 1);
	assert_string_equal(body + sizeof(maps) - 1, want);
}

static void test_disk_config(void **state)
{
	/* no keys: the disk's /boot/grub/grub.cfg on partition 1, as grub-bhyve */
	assert_int_equal(make("loader=grub\n", false), 0);
	body_is("set root=(hd0,1)\nconfigfile /boot/grub/grub.cfg\n");
	assert_int_equal(make("grub_run_partition=\"gpt2\"\ngrub_run_dir=\"/grub2\"\n", false), 0);
	body_is("set root=(hd0,gpt2)\nconfigfile /grub2/grub.cfg\n");
	assert_int_equal(make("grub_run_partition=\"msdos1,bsd1\"\ngrub_run_dir=\"/boot/grub/\"\n"
			      "grub_run_file=\"grub2.conf\"\n",
			      false),
			 0);
	body_is("set root=(hd0,msdos1,bsd1)\nconfigfile /boot/grub/grub2.conf\n");
	/* install without commands: the image's own config */
	assert_int_equal(make("grub_run_dir=\"/grub2\"\n", true), 0);
	body_is("set root=(hd0)\nconfigfile /boot/grub/grub.cfg\n");
	(void)state;
}

static void test_commands(void **state)
{
	/* from the wild: commands run from a one-entry menu; linux lines get the serial console
	 * unless they name one; numbering stops at the first gap */
	assert_int_equal(make("grub_run_partition=\"2\"\nloader_timeout=\"7\"\n"
			      "grub_run0=\"linux /vmlinuz-virt root=/dev/vda3 modules=ext4\"\n"
			      "grub_run1=\" initrd /boot/initramfs-virt\"\n"
			      "grub_run3=\"never\"\n",
			      false),
			 0);
	body_is("set root=(hd0,2)\nset timeout=7\nmenuentry \"web1 (bhyve run)\" {\n"
		"\tlinux /vmlinuz-virt root=/dev/vda3 modules=ext4 console=ttyS0\n"
		"\t initrd /boot/initramfs-virt\n}\n");
	assert_int_equal(make("grub_run0=\"set root=(hd0,gpt2)\"\n"
			      "grub_run1=\"linux16 /vmlinuz console=tty0\"\n"
			      "grub_run2=\"kopenbsd -h com0 -r sd0d /bsd\"\n",
			      false),
			 0);
	body_is("set root=(hd0,1)\nset timeout=3\nmenuentry \"web1 (bhyve run)\" {\n"
		"\tset root=(hd0,gpt2)\n\tlinux16 /vmlinuz console=tty0\n"
		"\tkopenbsd -h com0 -r sd0d /bsd\n}\n");
	/* install: the grub_install commands; the run commands are not used */
	assert_int_equal(make("grub_install0=\"linux /isolinux/vmlinuz\"\n"
			      "grub_install1=\"initrd /isolinux/initrd.img\"\ngrub_run0=\"x\"\n",
			      true),
			 0);
	body_is("set root=(hd0)\nset timeout=3\nmenuentry \"web1 (bhyve install)\" {\n"
		"\tlinux /isolinux/vmlinuz console=ttyS0\n\tinitrd /isolinux/initrd.img\n}\n");
	(void)state;
}

static void test_bad_values(void **state)
{
	static const struct {
		const char *conf, *msg;
	} t[] = {
	    {"grub_run_partition=\"(hd1)\"\n", "grub_run_partition=\"(hd1)\": expected"},
	    {"grub_run_partition=\"msdos\"\n", "grub_run_partition=\"msdos\""},
	    {"grub_run_partition=\"1,\"\n", "grub_run_partition=\"1,\""},
	    {"grub_run_dir=\"boot/grub\"\n", "grub_run_dir=\"boot/grub\": expected an absolute"},
	    {"grub_run_dir=\"/my grub\"\n", "grub_run_dir=\"/my grub\""},
	    {"grub_run_file=\"a;reboot\"\n", "grub_run_file=\"a;reboot\""},
	    {"loader_timeout=\"soon\"\n", "loader_timeout=\"soon\": expected seconds"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(make(t[i].conf, false), -EINVAL);
		if (!strstr(E, t[i].msg))
			fail_msg("'%s': got '%s'", t[i].conf, E);
		assert_null(T);
	}
	(void)state;
}

static int teardown(void **state)
{
	free(T);
	T = NULL;
	(void)state;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_disk_config, teardown),
	    cmocka_unit_test_teardown(test_commands, teardown),
	    cmocka_unit_test_teardown(test_bad_values, teardown),
	};
	return cmocka_run_group_tests_name("vm grub.cfg", tests, NULL, NULL);
}
