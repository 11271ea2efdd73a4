/* SPDX-License-Identifier: BSD-2-Clause */
/* Virtual switches: Linux bridges "vm-<name>" driven over netlink (libnl-route), recorded in
 * system.conf as vm-bhyve does (switch_list, type_<sw>, ports_<sw>, vlan_<sw>, addr_<sw>, mtu_<sw>,
 * private_<sw>, bridge_<sw>). Taps for guest NICs are made here too. */
#ifndef VM_VSWITCH_H
#define VM_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/names.h"
#include "vm/settings.h"
#include "vm/switchargs.h"

/* One switch as system.conf describes it. */
struct vswitch {
	char name[SWITCH_NAME_MAX + 1];
	enum switch_type type;
	char bridge[16]; /* the Linux bridge: vm-<name>, or bridge_<name> for manual switches */
	char ports[512]; /* uplinks as named by the user (not their vlan links), space separated */
	int vlan;	 /* 0: none */
	char addr[19];	 /* "a.b.c.d/len", "" for none */
	unsigned mtu;	 /* 0: the kernel's default */
	bool isolated;	 /* private_<name>: guest taps are isolated bridge ports */
	bool nat;	 /* nat_<name>: masquerade and dnsmasq (natsw.h) */
};

/* The configured switch names (switch_list), "" when there are none. */
const char *vswitch_list(const struct vm_settings *s);
/* Read switch `name` from system.conf: 0, -ENOENT (not configured), -EINVAL/-EOPNOTSUPP (a bad
 * or unsupported value in system.conf). Messages in err. */
int vswitch_load(const struct vm_settings *s, const char *name, struct vswitch *out, char *err,
		 size_t errlen);

/* The `vm switch` operations. Each checks everything first, changes the kernel, then records the
 * result in system.conf; on any failure it puts back what it changed and returns -errno with a
 * one-line message in err. */
int vswitch_create(struct vm_settings *s, const struct vswitch *sw, bool force, char *err,
		   size_t errlen);
int vswitch_import(struct vm_settings *s, const char *name, const char *bridge, char *err,
		   size_t errlen);
int vswitch_destroy(struct vm_settings *s, const char *name, char *err, size_t errlen);
int vswitch_port_add(struct vm_settings *s, const char *name, const char *iface, bool force,
		     char *err, size_t errlen);
int vswitch_port_remove(struct vm_settings *s, const char *name, const char *iface, char *err,
			size_t errlen);
int vswitch_set_vlan(struct vm_settings *s, const char *name, int vlan, char *err, size_t errlen);
/* cidr NULL removes the address. */
int vswitch_set_address(struct vm_settings *s, const char *name, const char *cidr, char *err,
			size_t errlen);
int vswitch_set_private(struct vm_settings *s, const char *name, bool on, char *err, size_t errlen);
/* NAT on (the switch needs an address) or off: natsw.h's table and dnsmasq, and nat_<name>. */
int vswitch_set_nat(struct vm_settings *s, const char *name, bool on, char *err, size_t errlen);

/* Guest taps are bridge ports whose description (IFLA_IFALIAS) starts with this. */
#define VSWITCH_TAP_ALIAS_PREFIX "vmnet/"

/* Create the bridges and uplinks of every configured switch that is missing (`vm init`, boot).
 * 0, or -errno when some switch could not be brought up (all of them are tried; the problems,
 * "; "-separated, in err). */
int vswitch_init_all(struct vm_settings *s, char *err, size_t errlen);

/* Create persistent tap `tap` (up; MTU of the switch), described as vmnet/<guest>/<nic>/<sw>, and
 * add it to switch `sw`'s bridge (a bridge port, private when the switch is private). sw may be
 * NULL/"" (an unbridged tap) or name a switch that does not exist (warning in err, tap still made,
 * returns 1). 0 ok, 1 made with a warning, -errno with a message. */
int vswitch_tap_create(const struct vm_settings *s, const char *sw, const char *tap,
		       const char *guest, int nic, char *err, size_t errlen);
/* Remove the tap that vswitch_tap_create made for `guest`'s NIC `nic`. 0 or -errno: -ENODEV when
 * it is already gone, -EINVAL when the interface of that name is not a tap, -EPERM when it is a
 * tap that is not this NIC's (its alias is not vmnet/<guest>/<nic>/...): another program's or
 * guest's, never deleted. An existing tap gives -EEXIST from vswitch_tap_create. */
int vswitch_tap_destroy(const char *tap, const char *guest, int nic);
/* Whether tap alias `alias` says the tap is guest's NIC nic (vmnet/<guest>/<nic>/...). */
bool vswitch_tap_is_guests(const char *alias, const char *guest, int nic);

/* networkN_device with networkN_switch: make the existing interface `dev` a port of the switch's
 * bridge, as vm-bhyve does. 0 (*attached true when it was added now; false when it already was a
 * port of that bridge), 1 with a warning in err when the switch is not configured or its bridge
 * is missing (the guest starts unconnected), -errno with a message: no such interface, a bridge,
 * or a port of another bridge (never taken from it). */
int vswitch_device_attach(const struct vm_settings *s, const char *sw, const char *dev,
			  bool *attached, char *err, size_t errlen);
/* Take `dev` out of switch sw's bridge again, if it is still a port of it. */
void vswitch_device_detach(const struct vm_settings *s, const char *sw, const char *dev);

#endif
