/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for the bhyve command line built from a guest config (src/vm/bhyvecmd.c): golden
 * argv arrays for several configs, the NIC/console side outputs, warnings and the error cases. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/bhyvecmd.h"
#include "vm/vmconf.h"

#define UUID "5a1f0e2c-3b4d-4e6f-8a9b-0c1d2e3f4a5b"

static struct bhyvecmd C;
static char E[512];
static const char *UEFI_CODE;	/* system.conf's uefi_code for the next build, or NULL */
static const char *UEFI_CUSTOM; /* $vm_dir/.config/BHYVE_UEFI.fd for the next build, or NULL */
static const char *BIOS_CODE;	/* system.conf's bios_code for the next build, or NULL */
static const char *GRUB_SHIM = "/usr/share/kbhyve/efi/grubshim.efi"; /* loader="grub"'s shim */
static unsigned VNC_PORT; /* the free port the caller found for graphics, or 0 */
static const char *CONSOLE_DIR; /* run_as's run folder for the next build, or NULL */

/* Build from conf text for guest "g1" in /vms/g1. */
static int build_opts(const char *text, const char *iso, bool com_stdio)
{
	struct vmconf *conf;
	char perr[256];
	int r = vmconf_parse(&conf, text, "g1.conf", perr, sizeof(perr));
	assert_int_equal(r, 0);
	struct bhyvecmd_input in = {
	    .name = "g1",
	    .dir = "/vms/g1",
	    .conf = conf,
	    .bhyve = "/usr/sbin/bhyve",
	    .iso = iso,
	    .com_stdio = com_stdio,
	    .uefi_code = UEFI_CODE,
	    .uefi_custom = UEFI_CUSTOM,
	    .bios_code = BIOS_CODE,
	    .grub_shim = GRUB_SHIM,
	    .vnc_port = VNC_PORT,
	    .console_dir = CONSOLE_DIR,
	};
	E[0] = '\0';
	r = bhyvecmd_build(&in, &C, E, sizeof(E));
	vmconf_free(conf);
	return r;
}

static int build(const char *text)
{
	return build_opts(text, NULL, false);
}

/* argv equals the NULL-terminated list of expected words. */
static void expect_argv(const char *const *want)
{
	int n = 0;
	while (want[n])
		n++;
	for (int i = 0; i < n && i < C.argc; i++)
		assert_string_equal(C.argv[i], want[i]);
	assert_int_equal(C.argc, n);
	assert_null(C.argv[C.argc]);
}

static void expect_error(const char *text, const char *needle)
{
	assert_int_equal(build(text), -EINVAL);
	if (!strstr(E, needle))
		fail_msg("error '%s' does not mention '%s'", E, needle);
	assert_null(strchr(E, '\n'));
	assert_null(C.argv);
}

static int teardown(void **state)
{
	UEFI_CODE = NULL;
	UEFI_CUSTOM = NULL;
	BIOS_CODE = NULL;
	VNC_PORT = 0;
	bhyvecmd_free(&C);
	return 0;
}

static void test_minimal_kernel_guest(void **state)
{
	assert_int_equal(build("loader=\"kernel\"\ncpu=1\nmemory=256M\nkernel=\"vmlinuz\"\n"), 0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "1",
					   "-m",
					   "256M",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-s",
					   "0,hostbridge",
					   "-s",
					   "31,lpc",
					   "-l",
					   "com1,pty:/vms/g1/com1",
					   "-o",
					   "boot.kernel=/vms/g1/vmlinuz",
					   "g1",
					   NULL};
	expect_argv(want);
	assert_int_equal(C.nnics, 0);
	assert_int_equal(C.nwarnings, 0);
	assert_null(C.warnings[0]);
	assert_int_equal(C.nconsoles, 1);
	assert_string_equal(C.consoles[0], "com1=/vms/g1/com1");
}

static void test_full_guest(void **state)
{
	assert_int_equal(
	    build("loader=\"kernel\"\n"
		  "kernel=\"/boot/vmlinuz\"\ninitrd=\"initrd.img\"\n"
		  "cmdline=\"console=ttyS0 root=/dev/vda1 quiet\"\n"
		  "cpu=4\ncpu_sockets=2\ncpu_cores=2\nmemory=2G\nwired_memory=yes\n"
		  "utctime=no\nuuid=\"" UUID "\"\nhostbridge=amd\n"
		  "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"
		  "disk1_type=\"virtio-blk\"\ndisk1_dev=\"custom\"\ndisk1_name=\"/dev/sdb\"\n"
		  "disk1_opts=\"direct,sectorsize=4096\"\n"
		  "network0_type=\"virtio-net\"\nnetwork0_switch=\"public\"\n"
		  "network0_mac=\"58:9c:fc:01:02:03\"\n"
		  "network1_type=\"virtio-net\"\nnetwork1_device=\"eth9\"\n"
		  "network2_type=\"virtio-net\"\nnetwork2_name=\"mytap\"\n"
		  "virt_random=\"yes\"\nvirt_console0=\"yes\"\nvirt_console3=\"agent\"\n"
		  "comports=\"com1 com2\"\nbhyve_options=\"-k extra.conf  -D\"\n"),
	    0);
	static const char *const want[] = {
	    "/usr/sbin/bhyve",
	    "-c",
	    "4,sockets=2,cores=2",
	    "-m",
	    "2G",
	    "-A",
	    "-H",
	    "-P",
	    "-w",
	    "-S",
	    "-U",
	    UUID,
	    "-s",
	    "0,amd_hostbridge",
	    "-s",
	    "31,lpc",
	    "-s",
	    "4:0,virtio-blk,/vms/g1/disk0.img",
	    "-s",
	    "4:1,virtio-blk,/dev/sdb,direct,sectorsize=4096",
	    "-s",
	    "5:0,virtio-net,vmt-g1-0,mac=58:9c:fc:01:02:03",
	    "-s",
	    "5:1,virtio-net,eth9",
	    "-s",
	    "5:2,virtio-net,mytap",
	    "-s",
	    "6,virtio-rnd",
	    "-s",
	    "7,virtio-console,0=/vms/g1/vtcon.0,agent=/vms/g1/vtcon.agent",
	    "-l",
	    "com1,pty:/vms/g1/com1",
	    "-l",
	    "com2,pty:/vms/g1/com2",
	    "-o",
	    "boot.kernel=/boot/vmlinuz",
	    "-o",
	    "boot.initrd=/vms/g1/initrd.img",
	    "-o",
	    "boot.cmdline=console=ttyS0 root=/dev/vda1 quiet",
	    "-k",
	    "extra.conf",
	    "-D",
	    "g1",
	    NULL};
	expect_argv(want);
	assert_int_equal(C.nnics, 3);
	assert_int_equal(C.nics[0].index, 0);
	assert_string_equal(C.nics[0].tap, "vmt-g1-0");
	assert_string_equal(C.nics[0].sw, "public");
	assert_string_equal(C.nics[0].mac, "58:9c:fc:01:02:03");
	assert_false(C.nics[0].existing);
	assert_string_equal(C.nics[1].tap, "eth9");
	assert_true(C.nics[1].existing);
	assert_string_equal(C.nics[1].sw, "");
	assert_string_equal(C.nics[2].tap, "mytap");
	assert_false(C.nics[2].existing);
	assert_int_equal(C.nconsoles, 2);
	assert_string_equal(C.consoles[1], "com2=/vms/g1/com2");
}

/* Nine disks: functions 0-7 of slot 4, then 5:0; the NIC moves to slot 6. */
static void test_disks_overflow_to_next_slot(void **state)
{
	char text[2048] = "loader=kernel\ncpu=1\nmemory=512M\nkernel=k\nnetwork0_type=virtio-net\n";
	for (int i = 0; i < 9; i++) {
		size_t l = strlen(text);
		snprintf(text + l, sizeof(text) - l,
			 "disk%d_type=virtio-blk\ndisk%d_name=d%d.img\n", i, i, i);
	}
	assert_int_equal(build(text), 0);
	bool seen47 = false, seen50 = false, nic60 = false;
	for (int i = 0; i < C.argc; i++) {
		seen47 |= !strcmp(C.argv[i], "4:7,virtio-blk,/vms/g1/d7.img");
		seen50 |= !strcmp(C.argv[i], "5:0,virtio-blk,/vms/g1/d8.img");
		nic60 |= !strcmp(C.argv[i], "6:0,virtio-net,vmt-g1-0");
	}
	assert_true(seen47);
	assert_true(seen50);
	assert_true(nic60);
}

/* vm-bhyve's ZFS volumes (disk0_dev="sparse-zvol", disk0_name="disk0") on Linux: files of
 * that name in the guest folder, as vm create makes them. */
static void test_zvol_disks_are_guest_folder_files(void **state)
{
	assert_int_equal(build("loader=kernel\ncpu=1\nmemory=512M\nkernel=k\n"
			       "disk0_type=virtio-blk\ndisk0_dev=sparse-zvol\ndisk0_name=disk0\n"
			       "disk1_type=ahci-hd\ndisk1_dev=zvol\ndisk1_name=disk1\n"),
			 0);
	bool d0 = false, d1 = false;
	for (int i = 0; i < C.argc; i++) {
		d0 |= !strcmp(C.argv[i], "4:0,virtio-blk,/vms/g1/disk0");
		d1 |= !strcmp(C.argv[i], "4:1,ahci-hd,/vms/g1/disk1");
	}
	if (!d0 || !d1) {
		for (int i = 0; i < C.argc; i++)
			print_message("argv[%d] = %s\n", i, C.argv[i]);
	}
	assert_true(d0);
	assert_true(d1);
	bhyvecmd_free(&C);
	/* vm-bhyve's disk list ends at a name set empty: the CD after it is not there */
	assert_int_equal(build("loader=kernel\ncpu=1\nmemory=512M\nkernel=k\n"
			       "disk0_type=virtio-blk\ndisk0_name=disk0\n"
			       "disk1_type=ahci-cd\ndisk1_dev=custom\ndisk1_name=\"\"\n"
			       "disk2_type=virtio-blk\ndisk2_name=disk2\n"),
			 0);
	for (int i = 0; i < C.argc; i++) {
		assert_null(strstr(C.argv[i], "ahci"));
		assert_null(strstr(C.argv[i], "disk2"));
	}
	assert_int_equal(C.nwarnings, 1);
	assert_non_null(strstr(C.warnings[0], "disk1_name is empty"));
}

static void test_install_iso_and_stdio(void **state)
{
	assert_int_equal(build_opts("loader=kernel\ncpu=2\nmemory=1G\nkernel=k\nstart_slot=5\n"
				    "install_slot=2\ndisk0_type=virtio-blk\ndisk0_name=d.img\n",
				    "/iso/debian.iso", true),
			 0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "2",
					   "-m",
					   "1G",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-s",
					   "0,hostbridge",
					   "-s",
					   "31,lpc",
					   "-s",
					   "2:0,ahci-cd,/iso/debian.iso",
					   "-s",
					   "5:0,virtio-blk,/vms/g1/d.img",
					   "-l",
					   "com1,stdio",
					   "-o",
					   "boot.kernel=/vms/g1/k",
					   "g1",
					   NULL};
	expect_argv(want);
	assert_string_equal(C.consoles[0], "com1=stdio");
}

static void test_device_types_and_ignored_keys(void **state)
{
	assert_int_equal(
	    build("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nhostbridge=none\n"
		  "disk0_type=ahci-hd\ndisk0_name=a.img\ndisk1_type=ahci-cd\ndisk1_name=c.iso\n"
		  "disk2_type=nvme\ndisk2_name=n.img\nnetwork0_type=e1000\n"
		  "graphics=yes\ngraphics_port=5900\nxhci_mouse=no\npassthru0=2/0/0\n"
		  "grub_run0=\"boot\"\nloader_timeout=5\nsound=\"off\"\n"
		  "colour=blue\ndisk0x_type=a\nignore_bad_msr=yes\npriority=5\n"),
	    0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "1",
					   "-m",
					   "1G",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-s",
					   "31,lpc",
					   "-s",
					   "4:0,ahci-hd,/vms/g1/a.img",
					   "-s",
					   "4:1,ahci-cd,/vms/g1/c.iso",
					   "-s",
					   "4:2,nvme,/vms/g1/n.img",
					   "-s",
					   "5:0,e1000,vmt-g1-0",
					   "-s",
					   "6,fbuf,tcp=0.0.0.0:5900",
					   "-l",
					   "com1,pty:/vms/g1/com1",
					   "-o",
					   "boot.kernel=/vms/g1/k",
					   "g1",
					   NULL};
	expect_argv(want);
	/* passthru0, the unknown colour and disk0x_type; not the AHCI and NVMe disks nor the e1000
	 * NIC nor graphics (they run as written), not the keys set to no/off nor the known ones
	 * (grub_run0 and loader_timeout only mean something to loader="grub") */
	assert_int_equal(C.nwarnings, 3);
	int unknown = 0;
	for (int i = 0; i < C.nwarnings; i++) {
		assert_null(strchr(C.warnings[i], '\n'));
		assert_null(strstr(C.warnings[i], "graphics"));
		unknown += !strcmp(C.warnings[i], "colour=\"blue\": unknown key, ignored") ||
			   !strcmp(C.warnings[i], "disk0x_type=\"a\": unknown key, ignored");
		assert_null(strstr(C.warnings[i], "xhci"));
		assert_null(strstr(C.warnings[i], "sound"));
	}
	assert_int_equal(unknown, 2);
	assert_null(C.warnings[C.nwarnings]);
}

/* The argv element that starts with `prefix`, or NULL. */
static const char *arg_with(const char *prefix)
{
	for (int i = 0; i < C.argc; i++)
		if (strncmp(C.argv[i], prefix, strlen(prefix)) == 0)
			return C.argv[i];
	return NULL;
}

/* The console entry that starts with `prefix`, or NULL. */
static const char *console_with(const char *prefix)
{
	for (int i = 0; i < C.nconsoles; i++)
		if (strncmp(C.consoles[i], prefix, strlen(prefix)) == 0)
			return C.consoles[i];
	return NULL;
}

/* graphics="yes" as vm-bhyve builds it: fbuf after the other devices, listen 0.0.0.0 on the port
 * the caller found free, wait only while installing (auto), graphics_res/vga/password, the xHCI
 * tablet; the VNC address for `vm list`/`vm info` in the consoles. */
static void test_graphics(void **state)
{
	const char *base = "loader=uefi\ncpu=2\nmemory=2G\ndisk0_type=virtio-blk\ndisk0_name=d.img\n"
			   "graphics=yes\n";
	char conf[512];
	VNC_PORT = 5903;
	assert_int_equal(build(base), 0);
	assert_string_equal(arg_with("5,fbuf"), "5,fbuf,tcp=0.0.0.0:5903");
	assert_null(arg_with("6,xhci"));
	assert_string_equal(console_with("vnc="), "vnc=0.0.0.0:5903");
	bhyvecmd_free(&C);
	/* installing: auto waits for a viewer */
	assert_int_equal(build_opts(base, "/iso/win.iso", false), 0);
	assert_string_equal(arg_with("5,fbuf"), "5,fbuf,tcp=0.0.0.0:5903,wait");
	bhyvecmd_free(&C);
	snprintf(conf, sizeof(conf),
		 "%sgraphics_port=5910\ngraphics_listen=127.0.0.1\ngraphics_res=1280x720\n"
		 "graphics_vga=off\ngraphics_wait=yes\nvnc_password=s3cret\nxhci_mouse=yes\n",
		 base);
	assert_int_equal(build(conf), 0);
	assert_string_equal(arg_with("5,fbuf"),
			    "5,fbuf,tcp=127.0.0.1:5910,w=1280,h=720,vga=off,wait,password=s3cret");
	assert_string_equal(arg_with("6,xhci"), "6,xhci,tablet");
	assert_string_equal(console_with("vnc="), "vnc=127.0.0.1:5910");
	assert_int_equal(C.nwarnings, 0);
	bhyvecmd_free(&C);
	/* IPv6, no wait even while installing, graphics_password over vnc_password */
	snprintf(conf, sizeof(conf),
		 "%sgraphics_listen=::1\ngraphics_wait=no\ngraphics_password=longer-than-8\n"
		 "vnc_password=other\n",
		 base);
	assert_int_equal(build_opts(conf, "/iso/win.iso", false), 0);
	assert_string_equal(arg_with("5,fbuf"), "5,fbuf,tcp=[::1]:5903,password=longer-than-8");
	assert_string_equal(console_with("vnc="), "vnc=[::1]:5903");
	assert_int_equal(C.nwarnings, 1); /* only 8 characters count */
	bhyvecmd_free(&C);
	/* graphics="no": nothing */
	assert_int_equal(build("loader=uefi\ncpu=1\nmemory=1G\ngraphics=no\nxhci_mouse=yes\n"), 0);
	assert_null(arg_with("6,fbuf"));
	assert_null(arg_with("4,fbuf"));
	bhyvecmd_free(&C);
	static const struct {
		const char *line, *needle;
	} bad[] = {
	    {"graphics_res=1024", "graphics_res"},    {"graphics_res=10x10", "graphics_res"},
	    {"graphics_res=99999x480", "graphics_res"}, {"graphics_port=0", "graphics_port"},
	    {"graphics_port=70000", "graphics_port"}, {"graphics_vga=maybe", "graphics_vga"},
	    {"graphics_wait=later", "graphics_wait"}, {"vnc_password=a,b", "comma"},
	    {"graphics_listen=1.2.3.4,wait", "graphics_listen"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(conf, sizeof(conf), "%s%s\n", base, bad[i].line);
		expect_error(conf, bad[i].needle);
	}
}

/* ahci_device_limit > 1 packs AHCI disks into `ahci` controllers of that many ports, as
 * vm-bhyve does; a non-.iso install image is a read-only SATA disk. */
static void test_ahci_device_limit(void **state)
{
	assert_int_equal(
	    build_opts("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nhostbridge=none\n"
		       "ahci_device_limit=2\n"
		       "disk0_type=ahci-hd\ndisk0_name=a.img\ndisk0_opts=sectorsize=512\n"
		       "disk1_type=virtio-blk\ndisk1_name=v.img\n"
		       "disk2_type=ahci-cd\ndisk2_name=c.iso\n"
		       "disk3_type=ahci-hd\ndisk3_name=b.img\n",
		       "/iso/inst.img", false),
	    0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "1",
					   "-m",
					   "1G",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-s",
					   "31,lpc",
					   "-s",
					   "3:0,ahci-hd,/iso/inst.img,ro",
					   "-s",
					   "4:0,virtio-blk,/vms/g1/v.img",
					   "-s",
					   "4:1,ahci,hd:/vms/g1/a.img,sectorsize=512,cd:/vms/g1/c.iso",
					   "-s",
					   "4:2,ahci,hd:/vms/g1/b.img",
					   "-l",
					   "com1,pty:/vms/g1/com1",
					   "-o",
					   "boot.kernel=/vms/g1/k",
					   "g1",
					   NULL};
	expect_argv(want);
	assert_int_equal(C.nwarnings, 0);
	bhyvecmd_free(&C);
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nahci_device_limit=33\n"
		     "disk0_type=ahci-hd\ndisk0_name=a.img\n",
		     "ahci_device_limit");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\n"
		     "disk0_type=scsi\ndisk0_name=a.img\n",
		     "disk0_type");
}

/* A long guest name gets a hashed tap name that fits IFNAMSIZ. */
static void test_long_name_tap(void **state)
{
	struct vmconf *conf;
	char perr[256];
	assert_int_equal(vmconf_parse(&conf,
				      "loader=kernel\ncpu=1\nmemory=1G\nkernel=k\n"
				      "network0_type=virtio-net\nnetwork1_type=virtio-net\n",
				      "x", perr, sizeof(perr)),
			 0);
	struct bhyvecmd_input in = {
	    .name = "a-rather-long-guest", .dir = "/v/a", .conf = conf, .bhyve = "bhyve"};
	assert_int_equal(bhyvecmd_build(&in, &C, E, sizeof(E)), 0);
	vmconf_free(conf);
	assert_int_equal(C.nnics, 2);
	assert_true(strlen(C.nics[0].tap) <= 15);
	assert_int_equal(strncmp(C.nics[0].tap, "vmt-", 4), 0);
	assert_string_not_equal(C.nics[0].tap, C.nics[1].tap);
	assert_string_equal(C.argv[C.argc - 1], "a-rather-long-guest");
}

/* vm-bhyve parity: yes/no values as util::checkyesno reads them, memory sizes with a B. */
static void test_yesno_and_sizes_as_vm_bhyve(void **state)
{
	assert_int_equal(build("loader=kernel\ncpu=1\nmemory=512MB\nkernel=k\nutctime=\"y\"\n"
			       "virt_random=\"y\"\nwired_memory=\"Y\"\n"),
			 0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "1",
					   "-m",
					   "512M",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-S",
					   "-s",
					   "0,hostbridge",
					   "-s",
					   "31,lpc",
					   "-s",
					   "4,virtio-rnd",
					   "-l",
					   "com1,pty:/vms/g1/com1",
					   "-o",
					   "boot.kernel=/vms/g1/k",
					   "g1",
					   NULL};
	expect_argv(want);
	bhyvecmd_free(&C);
	assert_int_equal(build("loader=kernel\ncpu=1\nmemory=2GiB\nkernel=k\nutctime=\"NO\"\n"
			       "virt_random=\"off\"\n"),
			 0);
	static const char *const want2[] = {"/usr/sbin/bhyve",
					    "-c",
					    "1",
					    "-m",
					    "2G",
					    "-A",
					    "-H",
					    "-P",
					    "-w",
					    "-s",
					    "0,hostbridge",
					    "-s",
					    "31,lpc",
					    "-l",
					    "com1,pty:/vms/g1/com1",
					    "-o",
					    "boot.kernel=/vms/g1/k",
					    "g1",
					    NULL};
	expect_argv(want2);
	bhyvecmd_free(&C);
	/* a bare number passes through: bhyve reads it as MiB (below 1 MiB) or bytes */
	assert_int_equal(build("loader=kernel\ncpu=1\nmemory=1024\nkernel=k\n"), 0);
	assert_string_equal(C.argv[4], "1024");
}

/* loader="uefi": Debian's OVMF through -l bootrom with the guest's own variable store and QEMU's
 * fw_cfg; uefi_vars="yes" keeps that store from run to run; older confs' uefi="yes" means the
 * same; a kernel= line is ignored with a warning. */
static void test_uefi_guest(void **state)
{
	assert_int_equal(build("loader=\"uefi\"\ncpu=2\nmemory=1G\nuefi_vars=\"yes\"\n"
			       "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"),
			 0);
	static const char *const want[] = {
	    "/usr/sbin/bhyve",
	    "-c",
	    "2",
	    "-m",
	    "1G",
	    "-A",
	    "-H",
	    "-P",
	    "-w",
	    "-u",
	    "-s",
	    "0,hostbridge",
	    "-s",
	    "31,lpc",
	    "-s",
	    "4:0,virtio-blk,/vms/g1/disk0.img",
	    "-l",
	    "com1,pty:/vms/g1/com1",
	    "-l",
	    "bootrom,/usr/share/OVMF/OVMF_CODE_4M.fd,/vms/g1/uefi-vars.fd,fwcfg=qemu",
	    "g1",
	    NULL};
	expect_argv(want);
	assert_string_equal(C.uefi_vars, "/vms/g1/uefi-vars.fd");
	assert_true(C.uefi_vars_keep);
	assert_int_equal(C.nwarnings, 0);
	bhyvecmd_free(&C);

	assert_int_equal(build("uefi=\"yes\"\ncpu=1\nmemory=1G\nkernel=\"vmlinuz\"\n"), 0);
	assert_string_equal(
	    C.argv[C.argc - 2],
	    "bootrom,/usr/share/OVMF/OVMF_CODE_4M.fd,/vms/g1/uefi-vars.fd,fwcfg=qemu");
	assert_false(C.uefi_vars_keep); /* made afresh at every start */
	assert_int_equal(C.nwarnings, 1);
	assert_non_null(strstr(
	    C.warnings[0], "kernel=\"vmlinuz\": loader=\"uefi\" boots what the firmware finds"));
	bhyvecmd_free(&C);

	/* another firmware image from system.conf */
	UEFI_CODE = "/opt/fw/CODE.fd";
	assert_int_equal(build("loader=\"uefi\"\ncpu=1\nmemory=1G\n"), 0);
	assert_string_equal(C.argv[C.argc - 2],
			    "bootrom,/opt/fw/CODE.fd,/vms/g1/uefi-vars.fd,fwcfg=qemu");
	bhyvecmd_free(&C);
	UEFI_CODE = "fw/CODE.fd";
	assert_int_equal(build("loader=\"uefi\"\ncpu=1\nmemory=1G\n"), -EINVAL);
	assert_non_null(strstr(E, "uefi_code=\"fw/CODE.fd\" in system.conf: not an absolute path"));
	UEFI_CODE = "/opt/fw,1/CODE.fd";
	assert_int_equal(build("loader=\"uefi\"\ncpu=1\nmemory=1G\n"), -EINVAL);
	assert_non_null(strstr(E, "holds a comma"));
	UEFI_CODE = NULL;
}

/* loader="grub": OVMF with the guest's GRUB image as the firmware's kernel, and its grub.cfg */
static void test_grub_guest(void **state)
{
	assert_int_equal(build("loader=\"grub\"\ncpu=1\nmemory=512M\n"
			       "grub_run0=\"linux /vmlinuz root=/dev/vda1\"\n"
			       "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"),
			 0);
	static const char *const want[] = {
	    "/usr/sbin/bhyve",
	    "-c",
	    "1",
	    "-m",
	    "512M",
	    "-A",
	    "-H",
	    "-P",
	    "-w",
	    "-u",
	    "-s",
	    "0,hostbridge",
	    "-s",
	    "31,lpc",
	    "-s",
	    "4:0,virtio-blk,/vms/g1/disk0.img",
	    "-l",
	    "com1,pty:/vms/g1/com1",
	    "-l",
	    "bootrom,/usr/share/OVMF/OVMF_CODE_4M.fd,/vms/g1/uefi-vars.fd,fwcfg=qemu",
	    "-o",
	    "boot.kernel=/usr/share/kbhyve/efi/grubshim.efi",
	    "-o",
	    "boot.initrd=/vms/g1/grub.efi",
	    "g1",
	    NULL};
	expect_argv(want);
	assert_non_null(C.grub_cfg);
	assert_non_null(strstr(C.grub_cfg, "menuentry \"g1 (bhyve run)\" {\n"
					   "\tlinux /vmlinuz root=/dev/vda1 console=ttyS0\n}\n"));
	assert_false(C.uefi_vars_keep);
	assert_int_equal(C.nwarnings, 0);
	bhyvecmd_free(&C);

	/* `vm install`: the install commands, the image as root */
	assert_int_equal(build_opts("loader=grub\ncpu=1\nmemory=512M\n"
				    "grub_install0=\"linux /isolinux/vmlinuz\"\n"
				    "grub_run0=\"linux /vmlinuz\"\n",
				    "/isos/x.iso", false),
			 0);
	assert_non_null(strstr(C.grub_cfg, "set root=(hd0)\n"));
	assert_non_null(strstr(C.grub_cfg, "(bhyve install)"));
	assert_non_null(strstr(C.grub_cfg, "\tlinux /isolinux/vmlinuz console=ttyS0\n"));
	assert_null(strstr(C.grub_cfg, "linux /vmlinuz"));
	bhyvecmd_free(&C);

	/* without the shim: one line saying where it comes from */
	GRUB_SHIM = NULL;
	expect_error("loader=grub\ncpu=1\nmemory=512M\n", "needs kbhyve's EFI shim grubshim.efi");
	GRUB_SHIM = "/usr/share/kbhyve/efi/grubshim.efi";

	/* other loaders make no grub.cfg and take the grub keys silently */
	assert_int_equal(build("loader=uefi\ncpu=1\nmemory=512M\ngrub_run0=\"boot\"\n"), 0);
	assert_null(C.grub_cfg);
	assert_int_equal(C.nwarnings, 0);
	(void)state;
}

/* loader="bhyveload": the firmware and the disk's own EFI loader, with one warning;
 * loader="uefi-custom": vm-bhyve's whole image from $vm_dir/.config, no variable store */
static void test_bhyveload_and_uefi_custom(void **state)
{
	assert_int_equal(build("loader=\"bhyveload\"\ncpu=1\nmemory=1G\n"
			       "bhyveload_options=\"-e x=1\"\n"),
			 0);
	assert_string_equal(
	    C.argv[C.argc - 2],
	    "bootrom,/usr/share/OVMF/OVMF_CODE_4M.fd,/vms/g1/uefi-vars.fd,fwcfg=qemu");
	assert_non_null(C.uefi_vars);
	int bhyveload = 0;
	for (int i = 0; i < C.nwarnings; i++)
		bhyveload += !strcmp(C.warnings[i],
				     "loader=\"bhyveload\": there is no bhyveload on Linux; the "
				     "firmware (OVMF) boots the disk's own EFI loader instead");
	assert_int_equal(bhyveload, 1);
	bhyvecmd_free(&C);

	UEFI_CUSTOM = "/vm/.config/BHYVE_UEFI.fd";
	assert_int_equal(build("loader=\"uefi-custom\"\ncpu=1\nmemory=1G\nuefi_vars=\"yes\"\n"), 0);
	assert_string_equal(C.argv[C.argc - 3], "-l");
	assert_string_equal(C.argv[C.argc - 2], "bootrom,/vm/.config/BHYVE_UEFI.fd,fwcfg=qemu");
	assert_null(C.uefi_vars);
	assert_null(C.grub_cfg);
	bhyvecmd_free(&C);
	UEFI_CUSTOM = "/my,vm/.config/BHYVE_UEFI.fd";
	expect_error("loader=\"uefi-custom\"\ncpu=1\nmemory=1G\n", "holds a comma");
	(void)state;
}

/* loader="uefi-csm" (or uefi="csm"): Debian's SeaBIOS as the boot ROM, QEMU's fw_cfg, no
 * variable store */
static void test_csm_guest(void **state)
{
	assert_int_equal(build("loader=\"uefi-csm\"\ncpu=1\nmemory=512M\nuefi_vars=\"yes\"\n"
			       "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"),
			 0);
	static const char *const want[] = {"/usr/sbin/bhyve",
					   "-c",
					   "1",
					   "-m",
					   "512M",
					   "-A",
					   "-H",
					   "-P",
					   "-w",
					   "-u",
					   "-s",
					   "0,hostbridge",
					   "-s",
					   "31,lpc",
					   "-s",
					   "4:0,virtio-blk,/vms/g1/disk0.img",
					   "-l",
					   "com1,pty:/vms/g1/com1",
					   "-l",
					   "bootrom,/usr/share/seabios/bios-256k.bin,fwcfg=qemu",
					   "g1",
					   NULL};
	expect_argv(want);
	assert_null(C.uefi_vars);
	assert_false(C.uefi_vars_keep);
	assert_null(C.grub_cfg);
	assert_int_equal(C.nwarnings, 0);
	bhyvecmd_free(&C);
	/* the older spelling, a kernel key that the BIOS does not use, system.conf's bios_code */
	BIOS_CODE = "/opt/fw/bios.bin";
	assert_int_equal(build("uefi=\"csm\"\ncpu=1\nmemory=1G\nkernel=\"vmlinuz\"\n"), 0);
	assert_string_equal(C.argv[C.argc - 2], "bootrom,/opt/fw/bios.bin,fwcfg=qemu");
	assert_int_equal(C.nwarnings, 1);
	assert_non_null(strstr(C.warnings[0], "loader=\"uefi-csm\" boots what the BIOS finds"));
	bhyvecmd_free(&C);
	BIOS_CODE = "bios.bin";
	expect_error("loader=uefi-csm\ncpu=1\nmemory=1G\n",
		     "bios_code=\"bios.bin\" in system.conf: not an absolute path");
	BIOS_CODE = "/opt/a,b/bios.bin";
	expect_error("loader=uefi-csm\ncpu=1\nmemory=1G\n", "holds a comma");
	(void)state;
}

/* run_as: pty links and console sockets in the user's run folder; the disks bhyve writes listed
 * for the supervisor to hand over (not a CD, not a read-only disk, not the install image) */
static void test_run_as_outputs(void **state)
{
	CONSOLE_DIR = "/run/kbhyve/run_as/g1";
	int r = build("loader=\"kernel\"\nkernel=\"vmlinuz\"\ncpu=1\nmemory=256M\n"
		      "comports=\"com1 com2\"\nvirt_console0=\"yes\"\n"
		      "disk0_type=\"virtio-blk\"\ndisk0_name=\"disk0.img\"\n"
		      "disk1_type=\"ahci-cd\"\ndisk1_name=\"cd.iso\"\n"
		      "disk2_type=\"nvme\"\ndisk2_name=\"ro.img\"\ndisk2_opts=\"nocache,ro\"\n"
		      "disk3_type=\"ahci-hd\"\ndisk3_dev=\"custom\"\n"
		      "disk3_name=\"/dev/vg0/g1\"\ndisk3_opts=\"direct\"\n");
	CONSOLE_DIR = NULL;
	assert_int_equal(r, 0);
	assert_string_equal(C.consoles[0], "com1=/run/kbhyve/run_as/g1/com1");
	assert_string_equal(C.consoles[1], "com2=/run/kbhyve/run_as/g1/com2");
	bool pty = false, vtcon = false;
	for (int i = 0; i < C.argc; i++) {
		pty |= !strcmp(C.argv[i], "com1,pty:/run/kbhyve/run_as/g1/com1");
		vtcon |= strstr(C.argv[i], "virtio-console,0=/run/kbhyve/run_as/g1/vtcon.0") != NULL;
		assert_null(strstr(C.argv[i], "/vms/g1/com"));
	}
	assert_true(pty);
	assert_true(vtcon);
	assert_int_equal(C.ndisks_rw, 2);
	assert_string_equal(C.disks_rw[0], "/vms/g1/disk0.img");
	assert_string_equal(C.disks_rw[1], "/dev/vg0/g1");
	assert_null(C.disks_rw[2]);
	assert_int_equal(C.ndisks, 4);
	assert_string_equal(C.disks[1], "/vms/g1/cd.iso");
	assert_string_equal(C.disks[2], "/vms/g1/ro.img");
	bhyvecmd_free(&C);
	/* without disks: an empty list, still NULL-terminated */
	assert_int_equal(build("loader=\"kernel\"\nkernel=\"vmlinuz\"\ncpu=1\nmemory=256M\n"), 0);
	assert_int_equal(C.ndisks_rw, 0);
	assert_null(C.disks_rw[0]);
	assert_null(C.disks[0]);
}

static void test_errors(void **state)
{
	expect_error("cpu=1\nmemory=1G\n", "loader is not set");
	expect_error("loader=uefi-custom\ncpu=1\nmemory=1G\n", "no $vm_dir/.config/BHYVE_UEFI.fd");
	expect_error("loader=uefi-foo\ncpu=1\nmemory=1G\n", "unknown loader");
	expect_error("loader=grub\ncpu=1\nmemory=1G\ngrub_run_partition=\"(hd1)\"\n",
		     "grub_run_partition=\"(hd1)\"");
	expect_error("loader=lilo\ncpu=1\nmemory=1G\n", "unknown loader");
	expect_error("loader=kernel\nmemory=1G\nkernel=k\n", "cpu is not set");
	expect_error("loader=kernel\ncpu=two\nmemory=1G\nkernel=k\n", "cpu=\"two\"");
	expect_error("loader=kernel\ncpu=0\nmemory=1G\nkernel=k\n", "cpu=\"0\"");
	expect_error("loader=kernel\ncpu=1\ncpu_cores=x\nmemory=1G\nkernel=k\n", "cpu_cores");
	expect_error("loader=kernel\ncpu=1\nkernel=k\n", "memory is not set");
	expect_error("loader=kernel\ncpu=1\nmemory=1.5G\nkernel=k\n", "memory=\"1.5G\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1GBB\nkernel=k\n", "memory=\"1GBB\"");
	expect_error("loader=kernel\ncpu=1\nmemory=0\nkernel=k\n", "memory=\"0\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\n", "needs kernel=");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nuuid=xyz\n", "uuid=\"xyz\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nhostbridge=intel\n", "hostbridge");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nstart_slot=31\n", "start_slot");
	expect_error(
	    "loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-scsi\ndisk0_name=x\n",
	    "disk0_type=\"virtio-scsi\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n",
		     "disk0_name is not set");
	expect_error(
	    "loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\ndisk0_name=x\n"
	    "disk0_dev=nbd\n",
	    "disk0_dev=\"nbd\": unknown");
	/* a ZFS volume is a file in the guest folder, and no more free than a file disk */
	expect_error(
	    "loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n"
	    "disk0_dev=sparse-zvol\ndisk0_name=/dev/zvol/tank/x\n",
	    "guest folder");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n"
		     "disk0_name=../other/x.img\n",
		     "guest folder");
	/* review 16: an absolute path is a custom disk, and has to say so */
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n"
		     "disk0_name=/etc/hostname\n",
		     "disk0_dev=\"custom\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n"
		     "disk0_dev=file\ndisk0_name=/etc/hostname\n",
		     "guest folder");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=virtio-net\n"
		     "network0_name=vm%d\n",
		     "network0_name");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=virtio-net\n"
		     "network0_device=eth%d\n",
		     "network0_device");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ndisk0_type=virtio-blk\n"
		     "disk0_dev=custom\ndisk0_name=/a,b\n",
		     "comma");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=rtl8139\n",
		     "network0_type=\"rtl8139\"");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=virtio-net\n"
		     "network0_mac=01:00:5e:00:00:01\n",
		     "network0_mac");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=virtio-net\n"
		     "network0_name=this-name-is-too-long\n",
		     "network0_name");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nnetwork0_type=virtio-net\n"
		     "network0_name=t0\nnetwork1_type=virtio-net\nnetwork1_name=t0\n",
		     "both use");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ncomports=com3\n", "com3");
	expect_error("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\nvirt_console0=\"a b\"\n",
		     "virt_console0");
	/* iso at a slot the disks use */
	assert_int_equal(build_opts("loader=kernel\ncpu=1\nmemory=1G\nkernel=k\ninstall_slot=4\n",
				    "/x.iso", false),
			 -EINVAL);
	assert_non_null(strstr(E, "install_slot"));
}

/* Every shipped template (share/templates, found from this binary in <repo>/build/tests or
 * build-san/tests) gives a command line: kernel boot, its disks and NICs, no warnings. */
static void test_shipped_templates(void **state)
{
	char exe[PATH_MAX] = "", dir[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/../../share/templates", dirname(exe));
	static const char *const names[] = {"default", "debian", "alpine", "linux-kernel",
					    "config"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[PATH_MAX + 128], err[512];
		snprintf(path, sizeof(path), "%s/%s.%s", dir, names[i], i == 4 ? "sample" : "conf");
		struct vmconf *conf;
		if (vmconf_load(&conf, path, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		struct bhyvecmd_input in = {
		    .name = "g1", .dir = "/vms/g1", .conf = conf, .bhyve = "bhyve"};
		if (bhyvecmd_build(&in, &C, E, sizeof(E)) != 0)
			fail_msg("%s: %s", path, E);
		vmconf_free(conf);
		assert_int_equal(C.nwarnings, 0);
		assert_true(C.nnics >= 1);
		assert_string_equal(C.nics[0].sw, "public");
		bool kernel = false, disk = false;
		for (int k = 0; k < C.argc; k++) {
			kernel |= !strncmp(C.argv[k], "boot.kernel=/vms/g1/vmlinuz", 27);
			disk |= !strcmp(C.argv[k], "4:0,virtio-blk,/vms/g1/disk0.img");
		}
		assert_true(kernel);
		assert_true(disk);
		bhyvecmd_free(&C);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_minimal_kernel_guest, teardown),
	    cmocka_unit_test_teardown(test_full_guest, teardown),
	    cmocka_unit_test_teardown(test_disks_overflow_to_next_slot, teardown),
	    cmocka_unit_test_teardown(test_zvol_disks_are_guest_folder_files, teardown),
	    cmocka_unit_test_teardown(test_install_iso_and_stdio, teardown),
	    cmocka_unit_test_teardown(test_ahci_device_limit, teardown),
	    cmocka_unit_test_teardown(test_graphics, teardown),
	    cmocka_unit_test_teardown(test_device_types_and_ignored_keys, teardown),
	    cmocka_unit_test_teardown(test_long_name_tap, teardown),
	    cmocka_unit_test_teardown(test_yesno_and_sizes_as_vm_bhyve, teardown),
	    cmocka_unit_test_teardown(test_uefi_guest, teardown),
	    cmocka_unit_test_teardown(test_grub_guest, teardown),
	    cmocka_unit_test_teardown(test_csm_guest, teardown),
	    cmocka_unit_test_teardown(test_bhyveload_and_uefi_custom, teardown),
	    cmocka_unit_test_teardown(test_run_as_outputs, teardown),
	    cmocka_unit_test_teardown(test_errors, teardown),
	    cmocka_unit_test_teardown(test_shipped_templates, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
