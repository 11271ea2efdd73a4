/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for the switches: argument checks and word lists (src/vm/switchargs.c), and, when
 * run as root, guest taps and `vm init`'s switch bring-up (src/vm/vswitch.c) against the kernel in
 * a private network namespace of this test process. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vm/netlink.h"
#include "vm/settings.h"
#include "vm/switchargs.h"
#include "vm/vmconf.h"
#include "vm/vswitch.h"

static char err[512];

/* ---- argument checks ---- */

static void test_vlan(void **state)
{
	int v = -1;
	assert_int_equal(swarg_vlan("0", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 0);
	assert_int_equal(swarg_vlan("4094", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 4094);
	assert_int_equal(swarg_vlan("7", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 7);
	const char *bad[] = {"4095", "", "-1", "12a", "00001", " 5", "5 ", "0x10", "99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 123;
		err[0] = 0;
		assert_int_equal(swarg_vlan(bad[i], &v, err, sizeof(err)), -EINVAL);
		assert_int_equal(v, 123);
		assert_non_null(strstr(err, "vlan"));
	}
}

static void test_mtu(void **state)
{
	unsigned m = 0;
	assert_int_equal(swarg_mtu("100", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 100);
	assert_int_equal(swarg_mtu("1500", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 1500);
	assert_int_equal(swarg_mtu("9000", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 9000);
	assert_int_equal(swarg_mtu("068", &m, err, sizeof(err)), 0); /* 3 digits, 68 */
	assert_int_equal(m, 68);
	/* vm-bhyve's rule: 3 or 4 digits, at most 9000; and Linux's minimum of 68 */
	const char *bad[] = {"68", "9", "9001", "10000", "067", "", "abc", "15OO", "-150", "1500 "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = 42;
		err[0] = 0;
		assert_int_equal(swarg_mtu(bad[i], &m, err, sizeof(err)), -EINVAL);
		assert_int_equal(m, 42);
		assert_non_null(strstr(err, "mtu"));
	}
}

static void test_ipv4_cidr(void **state)
{
	char out[19];
	assert_int_equal(swarg_ipv4_cidr("10.0.0.1/24", out, err, sizeof(err)), 0);
	assert_string_equal(out, "10.0.0.1/24");
	assert_int_equal(swarg_ipv4_cidr("255.255.255.255/32", out, err, sizeof(err)), 0);
	assert_string_equal(out, "255.255.255.255/32");
	assert_int_equal(swarg_ipv4_cidr("0.0.0.0/1", out, err, sizeof(err)), 0);
	assert_string_equal(out, "0.0.0.0/1");
	const char *bad[] = {"10.0.0.1",     "10.0.0.1/",     "10.0.0.1/0",   "10.0.0.1/33",
			     "10.0.0/24",    "10.0.0.1.5/24", "256.0.0.1/24", "010.0.0.1/24",
			     " 10.0.0.1/24", "10.0.0.1/24 ",  "fd00::1/64",   "a.b.c.d/8",
			     "10..0.1/8",    "10.0.0.1/024",  "1000.0.0.1/8", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(swarg_ipv4_cidr(bad[i], out, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "invalid address"));
	}
}

static void test_onoff_and_type(void **state)
{
	bool on = false;
	assert_int_equal(swarg_onoff("on", &on, err, sizeof(err)), 0);
	assert_true(on);
	assert_int_equal(swarg_onoff("off", &on, err, sizeof(err)), 0);
	assert_false(on);
	assert_int_equal(swarg_onoff("yes", &on, err, sizeof(err)), -EINVAL);
	assert_int_equal(swarg_onoff("", &on, err, sizeof(err)), -EINVAL);
	assert_int_equal(swarg_onoff("On", &on, err, sizeof(err)), -EINVAL);

	enum switch_type t = SWITCH_MANUAL;
	assert_int_equal(swarg_type("standard", &t, err, sizeof(err)), 0);
	assert_int_equal(t, SWITCH_STANDARD);
	assert_int_equal(swarg_type("manual", &t, err, sizeof(err)), 0);
	assert_int_equal(t, SWITCH_MANUAL);
	assert_string_equal(swarg_type_name(SWITCH_MANUAL), "manual");
	assert_string_equal(swarg_type_name(SWITCH_STANDARD), "standard");
	const char *freebsd[] = {"vxlan", "vale", "netgraph"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(swarg_type(freebsd[i], &t, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "not supported on Linux"));
	}
	assert_int_equal(swarg_type("bogus", &t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown switch type"));
}

static void test_vlan_ifname(void **state)
{
	char out[16];
	assert_int_equal(swarg_vlan_ifname("eth0", 7, out, err, sizeof(err)), 0);
	assert_string_equal(out, "eth0.7");
	assert_int_equal(swarg_vlan_ifname("enp0s31f6", 4094, out, err, sizeof(err)), 0);
	assert_string_equal(out, "enp0s31f6.4094"); /* 14 characters */
	assert_int_equal(swarg_vlan_ifname("enx001122334455", 5, out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 15"));
}

static void test_words(void **state)
{
	const char *p = "  a\tbb  c ";
	char w[8];
	assert_string_equal(words_next(&p, w, sizeof(w)), "a");
	assert_string_equal(words_next(&p, w, sizeof(w)), "bb");
	assert_string_equal(words_next(&p, w, sizeof(w)), "c");
	assert_null(words_next(&p, w, sizeof(w)));
	assert_null(words_next(&p, w, sizeof(w)));

	assert_true(words_has("public lan", "lan"));
	assert_false(words_has("public lan", "la"));
	assert_false(words_has("public lan", "public lan"));
	assert_false(words_has("", "x"));

	char *s = words_add(NULL, "a");
	assert_string_equal(s, "a");
	char *s2 = words_add(s, "b");
	assert_string_equal(s2, "a b");
	char *s3 = words_add(s2, "a"); /* no duplicates */
	assert_string_equal(s3, "a b");
	char *s4 = words_add("x  ", "y");
	assert_string_equal(s4, "x y");
	char *r = words_remove("a b  a c", "a");
	assert_string_equal(r, "b c");
	char *r2 = words_remove("a", "a");
	assert_string_equal(r2, "");
	char *r3 = words_remove(NULL, "a");
	assert_string_equal(r3, "");
	free(s), free(s2), free(s3), free(s4), free(r), free(r2), free(r3);
}

/* ---- taps and init on the kernel (root, private network namespace) ---- */

struct fixture {
	struct vm_settings s;
	char dir[64];
	struct vnl *v;
};

static int netns_setup(void **state)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
		return 0; /* the tests skip themselves */
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vm_switch.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->s.sys_path, sizeof(f->s.sys_path), "%s/system.conf", f->dir);
	assert_int_equal(vmconf_parse(&f->s.sys, "", "system.conf", err, sizeof(err)), 0);
	assert_int_equal(vnl_open(&f->v, err, sizeof(err)), 0);
	struct vswitch lan = {
	    .name = "lan", .type = SWITCH_STANDARD, .mtu = 1400, .isolated = true};
	snprintf(lan.addr, sizeof(lan.addr), "10.77.0.1/24");
	assert_int_equal(vswitch_create(&f->s, &lan, false, err, sizeof(err)), 0);
	struct vswitch open = {.name = "open", .type = SWITCH_STANDARD};
	assert_int_equal(vswitch_create(&f->s, &open, false, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int netns_teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	vnl_close(f->v);
	vmconf_free(f->s.sys);
	unlink(f->s.sys_path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct fixture *need_netns(void **state)
{
	if (!*state)
		skip(); /* not root, or no network namespaces */
	return *state;
}

static void test_tap_on_private_switch(void **state)
{
	struct fixture *f = need_netns(state);
	struct vnl_link t, b;
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "vmt-g-0", "g", 0, err, sizeof(err)), 0);
	assert_int_equal(vnl_link_get(f->v, "vmt-g-0", &t), 0);
	assert_int_equal(vnl_link_get(f->v, "vm-lan", &b), 0);
	assert_string_equal(t.kind, "tun");
	assert_string_equal(t.alias, "vmnet/g/0/lan");
	assert_int_equal(t.mtu, 1400);
	assert_true(t.up);
	assert_int_equal(t.master, b.ifindex);
	assert_int_equal(vnl_port_isolated(f->v, "vmt-g-0"), 1);
	/* a second create of the same tap: -EEXIST, the first one untouched */
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "vmt-g-0", "g", 0, err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(vnl_link_get(f->v, "vmt-g-0", &t), 0);
	assert_int_equal(t.master, b.ifindex);
	assert_int_equal(vswitch_tap_destroy("vmt-g-0", "g", 0), 0);
	assert_false(vnl_link_exists(f->v, "vmt-g-0"));
	assert_int_equal(vswitch_tap_destroy("vmt-g-0", "g", 0), -ENODEV);
}

static void test_tap_on_open_switch(void **state)
{
	struct fixture *f = need_netns(state);
	struct vnl_link t, b;
	assert_int_equal(vswitch_tap_create(&f->s, "open", "vmt-h-1", "h", 1, err, sizeof(err)), 0);
	assert_int_equal(vnl_link_get(f->v, "vmt-h-1", &t), 0);
	assert_int_equal(vnl_link_get(f->v, "vm-open", &b), 0);
	assert_int_equal(t.master, b.ifindex);
	assert_int_equal(t.mtu, 1500);
	assert_int_equal(vnl_port_isolated(f->v, "vmt-h-1"), 0);
	/* `switch private on` reaches taps that are already there */
	assert_int_equal(vswitch_set_private(&f->s, "open", true, err, sizeof(err)), 0);
	assert_int_equal(vnl_port_isolated(f->v, "vmt-h-1"), 1);
	assert_int_equal(vswitch_set_private(&f->s, "open", false, err, sizeof(err)), 0);
	assert_int_equal(vnl_port_isolated(f->v, "vmt-h-1"), 0);
	assert_int_equal(vswitch_tap_destroy("vmt-h-1", "h", 1), 0);
}

static void test_tap_without_switch(void **state)
{
	struct fixture *f = need_netns(state);
	struct vnl_link t;
	assert_int_equal(vswitch_tap_create(&f->s, NULL, "vmt-u-0", "u", 0, err, sizeof(err)), 0);
	assert_int_equal(vnl_link_get(f->v, "vmt-u-0", &t), 0);
	assert_int_equal(t.master, 0);
	assert_string_equal(t.alias, "vmnet/u/0/");
	assert_int_equal(vswitch_tap_destroy("vmt-u-0", "u", 0), 0);

	/* a switch that is not configured: the tap is made, unbridged, with a warning */
	err[0] = 0;
	assert_int_equal(vswitch_tap_create(&f->s, "nosuch", "vmt-u-1", "u", 1, err, sizeof(err)),
			 1);
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(vnl_link_get(f->v, "vmt-u-1", &t), 0);
	assert_int_equal(t.master, 0);
	assert_int_equal(vswitch_tap_destroy("vmt-u-1", "u", 1), 0);
}

static void test_tap_bad_input(void **state)
{
	struct fixture *f = need_netns(state);
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "bad/name", "g", 0, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(
	    vswitch_tap_create(&f->s, "lan", "waytoolongname16", "g", 0, err, sizeof(err)),
	    -EINVAL);
	/* an interface that is not a tap is never deleted as one */
	assert_int_equal(vswitch_tap_destroy("vm-lan", "g", 0), -EINVAL);
	assert_true(vnl_link_exists(f->v, "vm-lan"));
	/* a name taken by another interface */
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "vm-open", "g", 0, err, sizeof(err)),
			 -EEXIST);
	assert_true(vnl_link_exists(f->v, "vm-open"));
}

/* review finding 2: only the tap of this guest's NIC is ever deleted */
static void test_tap_owner(void **state)
{
	assert_true(vswitch_tap_is_guests("vmnet/g/0/lan", "g", 0));
	assert_true(vswitch_tap_is_guests("vmnet/g/0/", "g", 0));
	assert_false(vswitch_tap_is_guests("vmnet/g/1/lan", "g", 0));
	assert_false(vswitch_tap_is_guests("vmnet/g/10/lan", "g", 1));
	assert_false(vswitch_tap_is_guests("vmnet/gx/0/lan", "g", 0));
	assert_false(vswitch_tap_is_guests("vmnet/g.x/0/lan", "g", 0));
	assert_false(vswitch_tap_is_guests("my-openvpn-tap", "g", 0));
	assert_false(vswitch_tap_is_guests("", "g", 0));
	char longname[232];
	memset(longname, 'a', 231);
	longname[231] = '\0';
	char alias[256];
	snprintf(alias, sizeof(alias), "vmnet/%s/3/public", longname);
	assert_true(vswitch_tap_is_guests(alias, longname, 3));

	struct fixture *f = need_netns(state);
	struct vnl_link t;
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "vmt-o-0", "o", 0, err, sizeof(err)), 0);
	/* another guest, or another NIC of the same guest: kept */
	assert_int_equal(vswitch_tap_destroy("vmt-o-0", "p", 0), -EPERM);
	assert_int_equal(vswitch_tap_destroy("vmt-o-0", "o", 1), -EPERM);
	assert_true(vnl_link_exists(f->v, "vmt-o-0"));
	/* another program's tap (its own alias): kept */
	assert_int_equal(vnl_link_set_alias(f->v, "vmt-o-0", "my-openvpn-tap"), 0);
	assert_int_equal(vswitch_tap_destroy("vmt-o-0", "o", 0), -EPERM);
	assert_int_equal(vnl_link_get(f->v, "vmt-o-0", &t), 0);
	assert_string_equal(t.alias, "my-openvpn-tap");
	assert_int_equal(vnl_link_set_alias(f->v, "vmt-o-0", "vmnet/o/0/lan"), 0);
	assert_int_equal(vswitch_tap_destroy("vmt-o-0", "o", 0), 0);
	assert_false(vnl_link_exists(f->v, "vmt-o-0"));
	/* a guest name of 231 characters still fits in the alias */
	assert_int_equal(vswitch_tap_create(&f->s, "lan", "vmt-o-1", longname, 1, err, sizeof(err)),
			 0);
	assert_int_equal(vnl_link_get(f->v, "vmt-o-1", &t), 0);
	snprintf(alias, sizeof(alias), "vmnet/%s/1/lan", longname);
	assert_string_equal(t.alias, alias);
	assert_int_equal(vswitch_tap_destroy("vmt-o-1", longname, 1), 0);
}

/* Can `uid` (group `gid`, no capabilities) attach to tap `name` as bhyve does? 0 or the errno. */
static int user_attaches(const char *name, uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(100);
		int fd = open("/dev/net/tun", O_RDWR);
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		_exit(fd < 0 ? 101 : ioctl(fd, TUNSETIFF, &ifr) < 0 ? errno : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 102;
}

/* A tap with no owner is anybody's to attach (the kernel's rule): the supervisor gives each one
 * to the user bhyve runs as (run_as), root otherwise; then only that user's bhyve attaches. */
static void test_tap_given_to_user(void **state)
{
	need_netns(state);
	/* a host whose /dev/net/tun users cannot open (mode 0600) has no tap owners to test */
	struct stat tun;
	if (stat("/dev/net/tun", &tun) < 0 || (tun.st_mode & 0006) != 0006) {
		print_message("/dev/net/tun is not open to users here: skipped\n");
		skip();
		return;
	}
	assert_int_equal(vnl_tap_create("vmt-u-9"), 0);
	assert_int_equal(vnl_tap_set_owner("vmt-u-9", 4242, 4243), 0);
	assert_int_equal(user_attaches("vmt-u-9", 4242, 4243), 0);
	assert_int_equal(user_attaches("vmt-u-9", 4244, 4245), EPERM);
	assert_int_equal(vnl_tap_set_owner("vmt-u-9", 0, 0), 0);
	assert_int_equal(user_attaches("vmt-u-9", 4242, 4243), EPERM);
	/* not a tap of that kind */
	assert_int_equal(vnl_tap_set_owner("lo", 4242, 4243), -EBADFD);
	assert_int_equal(vnl_tap_set_owner("nosuch0", 4242, 4243), -ENODEV);
}

/* review finding 9: networkN_device joins networkN_switch for a run */
static void test_device_attach(void **state)
{
	struct fixture *f = need_netns(state);
	struct vnl_link d, b;
	bool added = true;
	assert_int_equal(vswitch_device_attach(&f->s, "lan", "nodev0", &added, err, sizeof(err)),
			 -ENODEV);
	assert_false(added);
	assert_int_equal(vnl_tap_create("dev0"), 0);
	assert_int_equal(vswitch_device_attach(&f->s, "lan", "dev0", &added, err, sizeof(err)), 0);
	assert_true(added);
	assert_int_equal(vnl_link_get(f->v, "dev0", &d), 0);
	assert_int_equal(vnl_link_get(f->v, "vm-lan", &b), 0);
	assert_int_equal(d.master, b.ifindex);
	assert_int_equal(vnl_port_isolated(f->v, "dev0"), 1); /* lan is private */
	/* already a port of that bridge: nothing to undo at exit */
	assert_int_equal(vswitch_device_attach(&f->s, "lan", "dev0", &added, err, sizeof(err)), 0);
	assert_false(added);
	vswitch_device_detach(&f->s, "lan", "dev0");
	assert_int_equal(vnl_link_get(f->v, "dev0", &d), 0);
	assert_int_equal(d.master, 0);
	/* a port of another bridge is not taken from it */
	assert_int_equal(vnl_link_set_master(f->v, "dev0", "vm-open"), 0);
	err[0] = 0;
	assert_int_equal(vswitch_device_attach(&f->s, "lan", "dev0", &added, err, sizeof(err)),
			 -EBUSY);
	assert_non_null(strstr(err, "vm-open"));
	vswitch_device_detach(&f->s, "lan", "dev0"); /* not in lan's bridge: left alone */
	assert_int_equal(vnl_link_get(f->v, "dev0", &d), 0);
	assert_int_equal(vnl_link_get(f->v, "vm-open", &b), 0);
	assert_int_equal(d.master, b.ifindex);
	assert_int_equal(vnl_link_set_master(f->v, "dev0", NULL), 0);
	/* a switch that is not configured: a warning, unbridged */
	assert_int_equal(vswitch_device_attach(&f->s, "nosuch", "dev0", &added, err, sizeof(err)),
			 1);
	assert_false(added);
	assert_non_null(strstr(err, "nosuch"));
	assert_int_equal(vswitch_device_attach(&f->s, "lan", "vm-open", &added, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(vnl_link_delete(f->v, "dev0"), 0);
}

static void test_init_all_recreates(void **state)
{
	struct fixture *f = need_netns(state);
	assert_int_equal(vnl_link_delete(f->v, "vm-lan"), 0);
	assert_int_equal(vswitch_init_all(&f->s, err, sizeof(err)), 0);
	struct vnl_link b;
	assert_int_equal(vnl_link_get(f->v, "vm-lan", &b), 0);
	assert_string_equal(b.kind, "bridge");
	assert_true(b.up);
	assert_int_equal(b.mtu, 1400);
	char addrs[128];
	assert_int_equal(vnl_addr4_list(f->v, "vm-lan", addrs, sizeof(addrs)), 1);
	assert_string_equal(addrs, "10.77.0.1/24");
	/* a switch whose manual bridge is missing is reported, the others still come up */
	assert_int_equal(vmconf_set(f->s.sys, "switch_list", "gone lan open"), 0);
	assert_int_equal(vmconf_set(f->s.sys, "type_gone", "manual"), 0);
	assert_int_equal(vmconf_set(f->s.sys, "bridge_gone", "br-gone"), 0);
	assert_int_equal(vnl_link_delete(f->v, "vm-open"), 0);
	assert_true(vswitch_init_all(&f->s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "br-gone"));
	assert_true(vnl_link_exists(f->v, "vm-open"));
	assert_int_equal(vmconf_set(f->s.sys, "switch_list", "lan open"), 0);
}

int main(void)
{
	/* one group (the runner counts one PASSED line); the argument tests ignore the fixture */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vlan),
	    cmocka_unit_test(test_mtu),
	    cmocka_unit_test(test_ipv4_cidr),
	    cmocka_unit_test(test_onoff_and_type),
	    cmocka_unit_test(test_vlan_ifname),
	    cmocka_unit_test(test_words),
	    cmocka_unit_test(test_tap_on_private_switch),
	    cmocka_unit_test(test_tap_on_open_switch),
	    cmocka_unit_test(test_tap_without_switch),
	    cmocka_unit_test(test_tap_bad_input),
	    cmocka_unit_test(test_tap_owner),
	    cmocka_unit_test(test_tap_given_to_user),
	    cmocka_unit_test(test_device_attach),
	    cmocka_unit_test(test_init_all_recreates),
	};
	return cmocka_run_group_tests_name("switches", tests, netns_setup, netns_teardown);
}
