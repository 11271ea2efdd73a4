/* Virtual switches: Linux bridges "vm-<name>" driven over netlink (libnl-route), recorded in
 * system.conf as vm-bhyve does (switch_list, type_<sw>, ports_<sw>, vlan_<sw>, addr_<sw>, mtu_<sw>,
 * private_<sw>, bridge_<sw>). Taps for guest NICs are made here too. */
#ifndef VM_VSWITCH_H
#define VM_VSWITCH_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/settings.h"

/* Create the bridges and uplinks of every configured switch that is missing (`vm init`, boot). */
int vswitch_init_all(struct vm_settings *s, char *err, size_t errlen);

/* Create persistent tap `tap` (up; MTU of the switch), described as vmnet/<guest>/<nic>/<sw>, and
 * add it to switch `sw`'s bridge (a bridge port, private when the switch is private). sw may be
 * NULL/"" (an unbridged tap) or name a switch that does not exist (warning in err, tap still made,
 * returns 1). 0 ok, 1 made with a warning, -errno with a message. */
int vswitch_tap_create(const struct vm_settings *s, const char *sw, const char *tap,
		       const char *guest, int nic, char *err, size_t errlen);
/* Remove a tap made by vswitch_tap_create. 0 or -errno (-ENODEV when it is already gone). */
int vswitch_tap_destroy(const char *tap);

#endif
