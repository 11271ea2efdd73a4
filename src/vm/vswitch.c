/* SPDX-License-Identifier: BSD-2-Clause */
/* Virtual switches on Linux bridges (see vswitch.h). A standard switch owns its bridge vm-<name>
 * and the vlan links <port>.<vlan> it makes; physical ports are only enslaved and released. A
 * manual switch names a bridge somebody else manages: only our taps are added to it. */
#include "vm/natsw.h"
#include "vm/vswitch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/names.h"
#include "vm/netlink.h"
#include "vm/vmconf.h"

#define WORD 64 /* longest word read from a list: interface and switch names fit */

static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *sys_get(const struct vm_settings *s, const char *prefix, const char *name)
{
	char key[64];
	snprintf(key, sizeof(key), "%s_%s", prefix, name);
	return s->sys ? vmconf_get(s->sys, key) : NULL;
}

const char *vswitch_list(const struct vm_settings *s)
{
	const char *v = s->sys ? vmconf_get(s->sys, "switch_list") : NULL;
	return v ? v : "";
}

int vswitch_load(const struct vm_settings *s, const char *name, struct vswitch *out, char *err,
		 size_t errlen)
{
	char e[256];
	memset(out, 0, sizeof(*out));
	if (!words_has(vswitch_list(s), name))
		return fail(-ENOENT, err, errlen, "no switch named '%s'", name);
	if (strlen(name) >= sizeof(out->name))
		return fail(-EINVAL, err, errlen, "system.conf: switch name '%s' is too long",
			    name);
	snprintf(out->name, sizeof(out->name), "%s", name);
	const char *v = sys_get(s, "type", name);
	if (v && swarg_type(v, &out->type, e, sizeof(e)) < 0)
		return fail(strstr(e, "not supported") ? -EOPNOTSUPP : -EINVAL, err, errlen,
			    "system.conf: type_%s: %s", name, e);
	if (out->type == SWITCH_MANUAL) {
		v = sys_get(s, "bridge", name);
		if (!v || !*v || !ifname_valid(v))
			return fail(
			    -EINVAL, err, errlen,
			    "system.conf: manual switch '%s' needs bridge_%s (an interface name)",
			    name, name);
		snprintf(out->bridge, sizeof(out->bridge), "%s", v);
	} else {
		if (!switch_name_valid(name))
			return fail(-EINVAL, err, errlen, "system.conf: invalid switch name '%s'",
				    name);
		bridge_name(name, out->bridge);
	}
	v = sys_get(s, "ports", name);
	if (v) {
		if (strlen(v) >= sizeof(out->ports))
			return fail(-EINVAL, err, errlen, "system.conf: ports_%s is too long",
				    name);
		const char *p = v;
		char w[WORD];
		while (words_next(&p, w, sizeof(w)))
			if (!ifname_valid(w))
				return fail(-EINVAL, err, errlen,
					    "system.conf: ports_%s: invalid interface name '%s'",
					    name, w);
		snprintf(out->ports, sizeof(out->ports), "%s", v);
	}
	if ((v = sys_get(s, "vlan", name)) && *v && swarg_vlan(v, &out->vlan, e, sizeof(e)) < 0)
		return fail(-EINVAL, err, errlen, "system.conf: vlan_%s: %s", name, e);
	if ((v = sys_get(s, "addr", name)) && *v && swarg_ipv4_cidr(v, out->addr, e, sizeof(e)) < 0)
		return fail(-EINVAL, err, errlen, "system.conf: addr_%s: %s", name, e);
	if ((v = sys_get(s, "mtu", name)) && *v && swarg_mtu(v, &out->mtu, e, sizeof(e)) < 0)
		return fail(-EINVAL, err, errlen, "system.conf: mtu_%s: %s", name, e);
	out->isolated = vmconf_truthy(sys_get(s, "private", name));
	out->nat = vmconf_truthy(sys_get(s, "nat", name));
	return 0;
}

/* ---- system.conf ---- */

static int conf_set(struct vm_settings *s, const char *prefix, const char *name, const char *value)
{
	char key[64];
	snprintf(key, sizeof(key), "%s_%s", prefix, name);
	if (!value || !*value) {
		vmconf_unset(s->sys, key);
		return 0;
	}
	return vmconf_set(s->sys, key, value);
}

/* Record sw in system.conf (in memory): every key of the switch, and its name in switch_list. */
static int conf_put(struct vm_settings *s, const struct vswitch *sw)
{
	char num[16];
	char *list = words_add(vswitch_list(s), sw->name);
	if (!list)
		return -ENOMEM;
	int rc = vmconf_set(s->sys, "switch_list", list);
	free(list);
	if (rc == 0)
		rc = conf_set(s, "type", sw->name, swarg_type_name(sw->type));
	if (rc == 0)
		rc = conf_set(s, "bridge", sw->name, sw->type == SWITCH_MANUAL ? sw->bridge : NULL);
	if (rc == 0)
		rc = conf_set(s, "ports", sw->name, sw->ports);
	snprintf(num, sizeof(num), "%d", sw->vlan);
	if (rc == 0)
		rc = conf_set(s, "vlan", sw->name, sw->vlan ? num : NULL);
	if (rc == 0)
		rc = conf_set(s, "addr", sw->name, sw->addr);
	snprintf(num, sizeof(num), "%u", sw->mtu);
	if (rc == 0)
		rc = conf_set(s, "mtu", sw->name, sw->mtu ? num : NULL);
	if (rc == 0)
		rc = conf_set(s, "private", sw->name, sw->isolated ? "yes" : NULL);
	if (rc == 0)
		rc = conf_set(s, "nat", sw->name, sw->nat ? "yes" : NULL);
	return rc;
}

static const char *const switch_keys[] = {"type",  "bridge", "ports",	"vlan", "addr",
					  "addr6", "mtu",    "private", "nat"};

static int conf_drop(struct vm_settings *s, const char *name)
{
	char *list = words_remove(vswitch_list(s), name);
	if (!list)
		return -ENOMEM;
	int rc = *list ? vmconf_set(s->sys, "switch_list", list) : 0;
	if (!*list)
		vmconf_unset(s->sys, "switch_list");
	free(list);
	for (size_t i = 0; rc == 0 && i < sizeof(switch_keys) / sizeof(switch_keys[0]); i++)
		conf_set(s, switch_keys[i], name, NULL);
	return rc;
}

/* Write sw (or, with sw NULL, the removal of switch `name`) to system.conf on disk. */
static int conf_save(struct vm_settings *s, const struct vswitch *sw, const char *name, char *err,
		     size_t errlen)
{
	int rc = sw ? conf_put(s, sw) : conf_drop(s, name);
	if (rc < 0)
		return fail(rc, err, errlen, "cannot record switch '%s' in system.conf: %s",
			    sw ? sw->name : name, strerror(-rc));
	return settings_save_system(s, err, errlen);
}

/* ---- kernel objects ---- */

static int open_nl(struct vnl **v, char *err, size_t errlen)
{
	return vnl_open(v, err, errlen);
}

static const char *nlwhy(int rc)
{
	if (rc == -EOPNOTSUPP)
		return "not supported by this kernel";
	return strerror(-rc);
}

/* The bridge of a standard switch: made if missing (0, or 1 when it was made now), MTU, up,
 * address. */
static int bridge_bring_up(struct vnl *v, const struct vswitch *sw, char *err, size_t errlen)
{
	struct vnl_link b;
	int made = 0;
	int rc = vnl_link_get(v, sw->bridge, &b);
	if (rc == -ENODEV) {
		rc = vnl_bridge_create(v, sw->bridge);
		if (rc < 0)
			return fail(rc, err, errlen, "cannot create bridge %s: %s", sw->bridge,
				    rc == -EOPNOTSUPP ? "this kernel has no bridge support"
						      : nlwhy(rc));
		made = 1;
	} else if (rc < 0) {
		return fail(rc, err, errlen, "%s: %s", sw->bridge, nlwhy(rc));
	} else if (strcmp(b.kind, "bridge") != 0) {
		return fail(-EEXIST, err, errlen, "interface %s exists and is not a bridge",
			    sw->bridge);
	}
	if (sw->mtu && (rc = vnl_link_set_mtu(v, sw->bridge, sw->mtu)) < 0)
		fail(rc, err, errlen, "cannot set the MTU of %s to %u: %s", sw->bridge, sw->mtu,
		     nlwhy(rc));
	else if ((rc = vnl_link_set_up(v, sw->bridge, true)) < 0)
		fail(rc, err, errlen, "cannot bring %s up: %s", sw->bridge, nlwhy(rc));
	else if (sw->addr[0]) {
		char have[512];
		vnl_addr4_list(v, sw->bridge, have, sizeof(have));
		if (!words_has(have, sw->addr) && (rc = vnl_addr4_add(v, sw->bridge, sw->addr)) < 0)
			fail(rc, err, errlen, "cannot add address %s to %s: %s", sw->addr,
			     sw->bridge, rc == -EEXIST ? "the address is in use" : nlwhy(rc));
	}
	if (rc < 0) {
		if (made)
			vnl_link_delete(v, sw->bridge);
		return rc;
	}
	return made;
}

/* The interface that is the bridge port for uplink `port`: the port, or its vlan link. */
static int uplink_member(const struct vswitch *sw, const char *port, char out[16], char *err,
			 size_t errlen)
{
	if (!sw->vlan) {
		if (strlen(port) > 15)
			return fail(-EINVAL, err, errlen, "invalid interface name '%s'", port);
		memcpy(out, port, strlen(port) + 1);
		return 0;
	}
	return swarg_vlan_ifname(port, sw->vlan, out, err, errlen);
}

/* Checks on a would-be uplink of sw, before anything changes. */
static int uplink_check(struct vnl *v, const struct vswitch *sw, const char *port, char *err,
			size_t errlen)
{
	struct vnl_link p, b = {.ifindex = -1};
	if (!ifname_valid(port))
		return fail(-EINVAL, err, errlen, "invalid interface name '%s'", port);
	if (vnl_link_get(v, port, &p) < 0)
		return fail(-ENODEV, err, errlen, "no such interface '%s'", port);
	if (!strcmp(p.kind, "bridge"))
		return fail(-EINVAL, err, errlen,
			    "'%s' is a bridge; a bridge cannot be a switch port", port);
	if (!strncmp(p.alias, VSWITCH_TAP_ALIAS_PREFIX, strlen(VSWITCH_TAP_ALIAS_PREFIX)))
		return fail(-EINVAL, err, errlen, "'%s' is a guest's tap, not an uplink", port);
	vnl_link_get(v, sw->bridge, &b);
	char member[16];
	int rc = uplink_member(sw, port, member, err, errlen);
	if (rc < 0)
		return rc;
	struct vnl_link m;
	if (sw->vlan && vnl_link_get(v, member, &m) == 0) {
		if (strcmp(m.kind, "vlan") || m.vlan_id != sw->vlan || m.parent != p.ifindex)
			return fail(-EEXIST, err, errlen,
				    "interface %s exists and is not vlan %d on %s", member,
				    sw->vlan, port);
		p = m;
	}
	if (p.master && p.master != b.ifindex) {
		char other[16] = "?";
		vnl_link_name(v, p.master, other);
		return fail(-EBUSY, err, errlen, "interface %s is already a port of bridge %s",
			    p.name, other);
	}
	return 0;
}

/* On Linux an address on a bridge port goes on working only with loose reverse-path filtering,
 * and DHCP or IPv6 on the port break (on FreeBSD the address keeps working): an uplink that
 * carries addresses is refused, with the way to move them, unless the user forces it. */
static int uplink_addr_check(struct vnl *v, const struct vswitch *sw, const char *port, char *err,
			     size_t errlen)
{
	char member[16], addrs[512];
	if (uplink_member(sw, port, member, err, errlen) < 0 || !vnl_link_exists(v, member))
		return 0; /* reported by uplink_check, or a vlan link made new */
	if (vnl_addr_list_host(v, member, addrs, sizeof(addrs)) <= 0)
		return 0;
	char first[64];
	const char *p = addrs;
	words_next(&p, first, sizeof(first));
	if (strchr(first, ':'))
		return fail(
		    -EADDRINUSE, err, errlen,
		    "%s has IP address %s, which stops working once %s is a bridge port: "
		    "move it to bridge %s (ip addr del %s dev %s; ip addr add %s dev %s), or "
		    "use -f to add %s anyway",
		    member, first, member, sw->bridge, first, member, first, sw->bridge, member);
	return fail(-EADDRINUSE, err, errlen,
		    "%s has IP address %s, which stops working once %s is a bridge port: move it "
		    "to the switch (ip addr del %s dev %s; vm switch address %s %s), or use -f to "
		    "add %s anyway",
		    member, first, member, first, member, sw->name, first, member);
}

/* Make uplink `port` a port of sw's bridge (through its vlan link when sw has a vlan): MTU, up,
 * enslaved. Undone completely on failure. */
static int uplink_attach(struct vnl *v, const struct vswitch *sw, const char *port, char *err,
			 size_t errlen)
{
	int rc = uplink_check(v, sw, port, err, errlen);
	if (rc < 0)
		return rc;
	char member[16];
	uplink_member(sw, port, member, err, errlen);
	bool made = false;
	if (sw->vlan && !vnl_link_exists(v, member)) {
		rc = vnl_vlan_create(v, port, member, sw->vlan);
		if (rc < 0)
			return fail(rc, err, errlen, "cannot create vlan interface %s: %s", member,
				    rc == -EOPNOTSUPP
					? "this kernel has no 802.1Q vlan support (8021q)"
					: nlwhy(rc));
		made = true;
	}
	struct vnl_link p;
	vnl_link_get(v, port, &p);
	if (sw->mtu && (rc = vnl_link_set_mtu(v, port, sw->mtu)) < 0)
		fail(rc, err, errlen, "cannot set the MTU of %s to %u: %s", port, sw->mtu,
		     nlwhy(rc));
	else if (sw->mtu && sw->vlan && (rc = vnl_link_set_mtu(v, member, sw->mtu)) < 0)
		fail(rc, err, errlen, "cannot set the MTU of %s to %u: %s", member, sw->mtu,
		     nlwhy(rc));
	else if ((rc = vnl_link_set_up(v, port, true)) < 0 ||
		 (sw->vlan && (rc = vnl_link_set_up(v, member, true)) < 0))
		fail(rc, err, errlen, "cannot bring %s up: %s", member, nlwhy(rc));
	else if ((rc = vnl_link_set_master(v, member, sw->bridge)) < 0)
		fail(rc, err, errlen, "cannot add %s to bridge %s: %s", member, sw->bridge,
		     nlwhy(rc));
	if (rc < 0) {
		if (made)
			vnl_link_delete(v, member);
		if (sw->mtu && p.mtu != sw->mtu)
			vnl_link_set_mtu(v, port, p.mtu);
	}
	return rc;
}

/* Take uplink `port` out of sw's bridge: its vlan link is deleted, a plain port released. */
static int uplink_detach(struct vnl *v, const struct vswitch *sw, const char *port, char *err,
			 size_t errlen)
{
	char member[16];
	struct vnl_link m, b;
	if (uplink_member(sw, port, member, err, errlen) < 0)
		return 0; /* never made */
	if (vnl_link_get(v, member, &m) < 0)
		return 0; /* already gone */
	if (vnl_link_get(v, sw->bridge, &b) < 0 || m.master != b.ifindex)
		return 0; /* not ours */
	int rc = sw->vlan && !strcmp(m.kind, "vlan") ? vnl_link_delete(v, member)
						     : vnl_link_set_master(v, member, NULL);
	if (rc < 0 && rc != -ENODEV)
		return fail(rc, err, errlen, "cannot take %s out of bridge %s: %s", member,
			    sw->bridge, nlwhy(rc));
	return 0;
}

static int uplinks_attach(struct vnl *v, const struct vswitch *sw, char *err, size_t errlen)
{
	const char *p = sw->ports;
	char w[WORD];
	while (words_next(&p, w, sizeof(w))) {
		int rc = uplink_attach(v, sw, w, err, errlen);
		if (rc < 0) {
			/* take out the ones attached before this one */
			const char *q = sw->ports;
			char u[WORD], e2[256];
			while (words_next(&q, u, sizeof(u)) && strcmp(u, w))
				uplink_detach(v, sw, u, e2, sizeof(e2));
			return rc;
		}
	}
	return 0;
}

static void uplinks_detach(struct vnl *v, const struct vswitch *sw)
{
	const char *p = sw->ports;
	char w[WORD], e[256];
	while (words_next(&p, w, sizeof(w)))
		uplink_detach(v, sw, w, e, sizeof(e));
}

/* The guest taps on bridge: malloc'd array of ports, count or -errno. */
static int bridge_taps(struct vnl *v, const char *bridge, struct vnl_link **out)
{
	struct vnl_link b;
	*out = NULL;
	int rc = vnl_link_get(v, bridge, &b);
	if (rc < 0)
		return rc;
	struct vnl_link *ports;
	int n = vnl_bridge_ports(v, b.ifindex, &ports);
	if (n < 0)
		return n;
	int k = 0;
	for (int i = 0; i < n; i++)
		if (!strncmp(ports[i].alias, VSWITCH_TAP_ALIAS_PREFIX,
			     strlen(VSWITCH_TAP_ALIAS_PREFIX)))
			ports[k++] = ports[i];
	*out = ports;
	return k;
}

static int taps_set_isolated(struct vnl *v, const char *bridge, bool on, char *err, size_t errlen)
{
	struct vnl_link *taps;
	int n = bridge_taps(v, bridge, &taps);
	if (n < 0)
		return n == -ENODEV ? 0 : fail(n, err, errlen, "%s: %s", bridge, nlwhy(n));
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		rc = vnl_port_set_isolated(v, taps[i].name, on);
		if (rc < 0) {
			fail(rc, err, errlen, "cannot make %s %s: %s", taps[i].name,
			     on ? "isolated" : "not isolated", nlwhy(rc));
			for (int j = 0; j < i; j++)
				vnl_port_set_isolated(v, taps[j].name, !on);
		}
	}
	free(taps);
	return rc;
}

/* Bring a configured switch up: a standard switch's bridge and uplinks, or a check that a manual
 * switch's bridge is there. 0, or -errno with a message (uplink problems are reported after the
 * bridge is up and the other uplinks attached). */
static int switch_bring_up(struct vnl *v, const struct vswitch *sw, char *err, size_t errlen)
{
	struct vnl_link b;
	if (sw->type == SWITCH_MANUAL) {
		if (vnl_link_get(v, sw->bridge, &b) < 0 || strcmp(b.kind, "bridge"))
			return fail(-ENODEV, err, errlen,
				    "bridge %s of manual switch '%s' does not exist", sw->bridge,
				    sw->name);
		return 0;
	}
	int rc = bridge_bring_up(v, sw, err, errlen);
	if (rc < 0)
		return rc;
	vnl_link_get(v, sw->bridge, &b);
	const char *p = sw->ports;
	char w[WORD], e[256];
	int first = 0;
	while (words_next(&p, w, sizeof(w))) {
		char member[16];
		struct vnl_link m;
		if (uplink_member(sw, w, member, e, sizeof(e)) == 0 &&
		    vnl_link_get(v, member, &m) == 0 && m.master == b.ifindex)
			continue;
		rc = uplink_attach(v, sw, w, e, sizeof(e));
		if (rc < 0 && !first) {
			first = rc;
			fail(rc, err, errlen, "switch '%s': %s", sw->name, e);
		}
	}
	return first;
}

/* ---- operations ---- */

/* The switch whose bridge is `bridge`, or NULL. */
static const char *bridge_user(const struct vm_settings *s, const char *bridge, char buf[WORD])
{
	const char *p = vswitch_list(s);
	char e[256];
	while (words_next(&p, buf, WORD)) {
		struct vswitch o;
		if (vswitch_load(s, buf, &o, e, sizeof(e)) == 0 && !strcmp(o.bridge, bridge))
			return buf;
	}
	return NULL;
}

/* Checks common to create and import. */
static int new_switch_check(const struct vm_settings *s, const struct vswitch *sw, char *err,
			    size_t errlen)
{
	if (!switch_name_valid(sw->name))
		return fail(-EINVAL, err, errlen,
			    "invalid switch name '%s' (1 to %d letters, digits, '_', '.' or '-', not starting with '.' or '-')",
			    sw->name, SWITCH_NAME_MAX);
	if (words_has(vswitch_list(s), sw->name))
		return fail(-EEXIST, err, errlen, "switch '%s' already exists", sw->name);
	char other[WORD];
	if (bridge_user(s, sw->bridge, other))
		return fail(-EEXIST, err, errlen, "bridge %s already belongs to switch '%s'",
			    sw->bridge, other);
	return 0;
}

static int manual_bridge_check(struct vnl *v, const char *bridge, char *err, size_t errlen)
{
	struct vnl_link b;
	if (!ifname_valid(bridge))
		return fail(-EINVAL, err, errlen, "invalid interface name '%s'", bridge);
	if (vnl_link_get(v, bridge, &b) < 0)
		return fail(-ENODEV, err, errlen, "no such bridge '%s'", bridge);
	if (strcmp(b.kind, "bridge"))
		return fail(-EINVAL, err, errlen, "interface %s is not a bridge", bridge);
	return 0;
}

int vswitch_create(struct vm_settings *s, const struct vswitch *spec, bool force, char *err,
		   size_t errlen)
{
	struct vswitch sw = *spec;
	if (sw.type == SWITCH_STANDARD)
		bridge_name(sw.name, sw.bridge);
	int rc = new_switch_check(s, &sw, err, errlen);
	if (rc < 0)
		return rc;
	struct vnl *v;
	if ((rc = open_nl(&v, err, errlen)) < 0)
		return rc;
	if (sw.type == SWITCH_MANUAL) {
		rc = manual_bridge_check(v, sw.bridge, err, errlen);
		if (rc == 0)
			rc = conf_save(s, &sw, NULL, err, errlen);
		vnl_close(v);
		return rc;
	}
	/* every uplink is checked before the bridge is made */
	const char *p = sw.ports;
	char w[WORD];
	while (rc == 0 && words_next(&p, w, sizeof(w))) {
		rc = uplink_check(v, &sw, w, err, errlen);
		if (rc == 0 && !force)
			rc = uplink_addr_check(v, &sw, w, err, errlen);
	}
	if (rc == 0 && vnl_link_exists(v, sw.bridge))
		rc = fail(-EEXIST, err, errlen,
			  "interface %s already exists (use vm switch import to adopt a bridge)",
			  sw.bridge);
	if (rc == 0)
		rc = bridge_bring_up(v, &sw, err, errlen);
	if (rc >= 0) {
		rc = uplinks_attach(v, &sw, err, errlen);
		if (rc == 0)
			rc = conf_save(s, &sw, NULL, err, errlen);
		if (rc < 0) {
			uplinks_detach(v, &sw);
			vnl_link_delete(v, sw.bridge);
		}
	}
	vnl_close(v);
	return rc < 0 ? rc : 0;
}

int vswitch_import(struct vm_settings *s, const char *name, const char *bridge, char *err,
		   size_t errlen)
{
	struct vswitch sw = {.type = SWITCH_MANUAL};
	if (strlen(name) >= sizeof(sw.name) || !ifname_valid(bridge))
		return fail(-EINVAL, err, errlen, "invalid %s '%s'",
			    strlen(name) >= sizeof(sw.name) ? "switch name" : "bridge name",
			    strlen(name) >= sizeof(sw.name) ? name : bridge);
	snprintf(sw.name, sizeof(sw.name), "%s", name);
	snprintf(sw.bridge, sizeof(sw.bridge), "%s", bridge);
	return vswitch_create(s, &sw, false, err, errlen);
}

/* Load switch `name` and open netlink: the start of every operation on an existing switch. */
static int begin(const struct vm_settings *s, const char *name, struct vswitch *sw, struct vnl **v,
		 char *err, size_t errlen)
{
	int rc = vswitch_load(s, name, sw, err, errlen);
	if (rc < 0)
		return rc;
	return open_nl(v, err, errlen);
}

int vswitch_destroy(struct vm_settings *s, const char *name, char *err, size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if (sw.nat && (rc = nat_stop(sw.name, err, errlen)) < 0) {
		vnl_close(v);
		return rc;
	}
	if (sw.type == SWITCH_STANDARD) {
		struct vnl_link b;
		uplinks_detach(v, &sw);
		if (vnl_link_get(v, sw.bridge, &b) == 0 && !strcmp(b.kind, "bridge")) {
			rc = vnl_link_delete(v, sw.bridge);
			if (rc < 0 && rc != -ENODEV) {
				fail(rc, err, errlen, "cannot delete bridge %s: %s", sw.bridge,
				     nlwhy(rc));
				char e[256];
				switch_bring_up(v, &sw, e, sizeof(e));
				vnl_close(v);
				return rc;
			}
		}
	}
	rc = conf_save(s, NULL, name, err, errlen);
	if (rc < 0 && sw.type == SWITCH_STANDARD) {
		char e[256];
		switch_bring_up(v, &sw, e, sizeof(e));
	}
	vnl_close(v);
	return rc;
}

static int standard_only(const struct vswitch *sw, const char *what, char *err, size_t errlen)
{
	if (sw->type == SWITCH_MANUAL)
		return fail(-EINVAL, err, errlen,
			    "switch '%s' is manual: %s on bridge %s is managed outside vm",
			    sw->name, what, sw->bridge);
	return 0;
}

int vswitch_port_add(struct vm_settings *s, const char *name, const char *iface, bool force,
		     char *err, size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = standard_only(&sw, "the ports", err, errlen)) < 0)
		goto out;
	if (words_has(sw.ports, iface)) {
		rc = fail(-EEXIST, err, errlen, "%s is already a port of switch '%s'", iface, name);
		goto out;
	}
	if (!force && (rc = uplink_addr_check(v, &sw, iface, err, errlen)) < 0)
		goto out;
	if ((rc = bridge_bring_up(v, &sw, err, errlen)) < 0)
		goto out;
	bool made = rc == 1;
	struct vswitch nsw = sw;
	char *ports = words_add(sw.ports, iface);
	if (!ports || strlen(ports) >= sizeof(nsw.ports)) {
		rc = fail(-ENOSPC, err, errlen, "switch '%s' has too many ports", name);
	} else {
		snprintf(nsw.ports, sizeof(nsw.ports), "%s", ports);
		rc = uplink_attach(v, &sw, iface, err, errlen);
		if (rc == 0 && (rc = conf_save(s, &nsw, NULL, err, errlen)) < 0) {
			char e[256];
			uplink_detach(v, &sw, iface, e, sizeof(e));
		}
	}
	free(ports);
	if (rc < 0 && made)
		vnl_link_delete(v, sw.bridge);
out:
	vnl_close(v);
	return rc;
}

int vswitch_port_remove(struct vm_settings *s, const char *name, const char *iface, char *err,
			size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = standard_only(&sw, "the ports", err, errlen)) < 0)
		goto out;
	if (!words_has(sw.ports, iface)) {
		rc = fail(-ENOENT, err, errlen, "%s is not a port of switch '%s'", iface, name);
		goto out;
	}
	struct vswitch nsw = sw;
	char *ports = words_remove(sw.ports, iface);
	if (!ports) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(nsw.ports, sizeof(nsw.ports), "%s", ports);
	free(ports);
	if ((rc = uplink_detach(v, &sw, iface, err, errlen)) == 0 &&
	    (rc = conf_save(s, &nsw, NULL, err, errlen)) < 0) {
		char e[256];
		uplink_attach(v, &sw, iface, e, sizeof(e));
	}
out:
	vnl_close(v);
	return rc;
}

int vswitch_set_vlan(struct vm_settings *s, const char *name, int vlan, char *err, size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = standard_only(&sw, "vlan tagging", err, errlen)) < 0)
		goto out;
	struct vswitch nsw = sw;
	nsw.vlan = vlan;
	/* names first, so that a vlan link name that does not fit changes nothing */
	const char *p = sw.ports;
	char w[WORD], member[16];
	while (rc == 0 && words_next(&p, w, sizeof(w)))
		rc = uplink_member(&nsw, w, member, err, errlen);
	if (rc < 0)
		goto out;
	if ((rc = bridge_bring_up(v, &sw, err, errlen)) < 0)
		goto out;
	rc = 0;
	char e[256];
	uplinks_detach(v, &sw);
	rc = uplinks_attach(v, &nsw, err, errlen);
	if (rc == 0 && (rc = conf_save(s, &nsw, NULL, err, errlen)) < 0)
		uplinks_detach(v, &nsw);
	if (rc < 0)
		uplinks_attach(v, &sw, e, sizeof(e));
out:
	vnl_close(v);
	return rc;
}

int vswitch_set_address(struct vm_settings *s, const char *name, const char *cidr, char *err,
			size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = standard_only(&sw, "the address", err, errlen)) < 0)
		goto out;
	struct nat_plan plan;
	char e[256];
	if (sw.nat && !cidr) {
		rc = fail(-EINVAL, err, errlen, "switch '%s' has NAT on, which needs its address: vm switch nat %s off first",
			  name, name);
		goto out;
	}
	if (sw.nat && nat_plan(cidr, &plan, e, sizeof(e)) < 0) {
		rc = fail(-EINVAL, err, errlen, "switch '%s' has NAT on: %s", name, e);
		goto out;
	}
	struct vswitch nsw = sw;
	snprintf(nsw.addr, sizeof(nsw.addr), "%s", cidr ? cidr : "");
	if ((rc = bridge_bring_up(v, &sw, err, errlen)) < 0)
		goto out;
	/* the old address goes first: the new one may be in the same subnet */
	if (sw.addr[0] && (rc = vnl_addr4_flush(v, sw.bridge)) < 0) {
		fail(rc, err, errlen, "cannot remove the address of %s: %s", sw.bridge, nlwhy(rc));
		goto out;
	}
	rc = 0;
	if (cidr && (rc = vnl_addr4_add(v, sw.bridge, cidr)) < 0)
		fail(rc, err, errlen, "cannot add address %s to %s: %s", cidr, sw.bridge,
		     rc == -EEXIST ? "the address is in use" : nlwhy(rc));
	if (rc == 0 && (rc = conf_save(s, &nsw, NULL, err, errlen)) < 0 && cidr)
		vnl_addr4_flush(v, sw.bridge);
	if (rc < 0 && sw.addr[0])
		vnl_addr4_add(v, sw.bridge, sw.addr);
	/* NAT follows the new subnet: table and dnsmasq made again */
	if (rc == 0 && sw.nat)
		rc = nat_start(sw.name, sw.bridge, cidr, err, errlen);
out:
	vnl_close(v);
	return rc;
}

int vswitch_set_private(struct vm_settings *s, const char *name, bool on, char *err, size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	struct vswitch nsw = sw;
	nsw.isolated = on;
	if ((rc = taps_set_isolated(v, sw.bridge, on, err, errlen)) == 0 &&
	    (rc = conf_save(s, &nsw, NULL, err, errlen)) < 0) {
		char e[256];
		taps_set_isolated(v, sw.bridge, !on, e, sizeof(e));
	}
	vnl_close(v);
	return rc;
}

int vswitch_set_nat(struct vm_settings *s, const char *name, bool on, char *err, size_t errlen)
{
	struct vswitch sw;
	struct vnl *v;
	int rc = begin(s, name, &sw, &v, err, errlen);
	if (rc < 0)
		return rc;
	if ((rc = standard_only(&sw, "NAT", err, errlen)) < 0)
		goto out;
	struct vswitch nsw = sw;
	nsw.nat = on;
	if (!on) {
		/* what is running goes even when the conf said off (a half-made earlier try) */
		if ((rc = nat_stop(sw.name, err, errlen)) == 0 && sw.nat)
			rc = conf_save(s, &nsw, NULL, err, errlen);
		goto out;
	}
	if (!sw.addr[0]) {
		rc = fail(-EINVAL, err, errlen,
			  "switch '%s' has no address for its guests' gateway: vm switch address %s a.b.c.d/len first",
			  name, name);
		goto out;
	}
	if ((rc = bridge_bring_up(v, &sw, err, errlen)) < 0)
		goto out;
	if ((rc = nat_start(sw.name, sw.bridge, sw.addr, err, errlen)) < 0)
		goto out;
	if ((rc = conf_save(s, &nsw, NULL, err, errlen)) < 0) {
		char e[256];
		nat_stop(sw.name, e, sizeof(e));
	}
out:
	vnl_close(v);
	return rc;
}

/* ---- boot and guests ---- */

int vswitch_init_all(struct vm_settings *s, char *err, size_t errlen)
{
	const char *p = vswitch_list(s);
	if (!*p)
		return 0;
	struct vnl *v;
	int rc = open_nl(&v, err, errlen);
	if (rc < 0)
		return rc;
	size_t used = 0;
	char w[WORD], e[512];
	if (errlen)
		err[0] = 0;
	while (words_next(&p, w, sizeof(w))) {
		struct vswitch sw;
		int r = vswitch_load(s, w, &sw, e, sizeof(e));
		if (r == 0)
			r = switch_bring_up(v, &sw, e, sizeof(e));
		if (r == 0 && sw.nat && sw.addr[0])
			r = nat_start(sw.name, sw.bridge, sw.addr, e, sizeof(e));
		if (r < 0) {
			if (!rc)
				rc = r;
			if (used < errlen) {
				int n = snprintf(err + used, errlen - used, "%s%s",
						 used ? "; " : "", e);
				used += n > 0 ? (size_t)n : 0;
			}
		}
	}
	vnl_close(v);
	return rc;
}

int vswitch_tap_create(const struct vm_settings *s, const char *swname, const char *tap,
		       const char *guest, int nic, char *err, size_t errlen)
{
	if (!tap || !ifname_valid(tap))
		return fail(-EINVAL, err, errlen, "invalid tap name '%s'", tap ? tap : "");
	struct vnl *v;
	int rc = open_nl(&v, err, errlen);
	if (rc < 0)
		return rc;
	struct vswitch sw;
	bool bridged = swname && *swname;
	int warn = 0;
	char e[512];
	if (bridged && (rc = vswitch_load(s, swname, &sw, e, sizeof(e))) < 0) {
		fail(1, err, errlen, "%s; tap %s is not on a bridge", e, tap);
		bridged = false;
		warn = 1;
	}
	if (vnl_link_exists(v, tap)) {
		vnl_close(v);
		return fail(-EEXIST, err, errlen, "interface %s already exists", tap);
	}
	rc = vnl_tap_create(tap);
	if (rc < 0) {
		vnl_close(v);
		return fail(rc, err, errlen, "cannot create tap %s: %s%s", tap, strerror(-rc),
			    rc == -ENOENT ? " (no /dev/net/tun: is the tun module loaded?)" : "");
	}
	char alias[256]; /* fits: "vmnet/" + a 231-character guest + "/99/" + a switch name */
	snprintf(alias, sizeof(alias), VSWITCH_TAP_ALIAS_PREFIX "%s/%d/%s", guest ? guest : "", nic,
		 bridged ? sw.name : "");
	if ((rc = vnl_link_set_alias(v, tap, alias)) < 0)
		fail(rc, err, errlen, "cannot describe tap %s: %s", tap, nlwhy(rc));
	else if (bridged && sw.mtu && (rc = vnl_link_set_mtu(v, tap, sw.mtu)) < 0)
		fail(rc, err, errlen, "cannot set the MTU of %s to %u: %s", tap, sw.mtu, nlwhy(rc));
	else if ((rc = vnl_link_set_up(v, tap, true)) < 0)
		fail(rc, err, errlen, "cannot bring %s up: %s", tap, nlwhy(rc));
	if (rc == 0 && bridged && switch_bring_up(v, &sw, e, sizeof(e)) < 0 &&
	    !vnl_link_exists(v, sw.bridge)) {
		/* as with a switch that is not configured: the guest starts, unconnected */
		fail(1, err, errlen, "%s; tap %s is not on a bridge", e, tap);
		bridged = false;
		warn = 1;
	}
	if (rc < 0)
		;
	else if (bridged && (rc = vnl_link_set_master(v, tap, sw.bridge)) < 0)
		fail(rc, err, errlen, "cannot add %s to bridge %s: %s", tap, sw.bridge, nlwhy(rc));
	else if (bridged && sw.isolated && (rc = vnl_port_set_isolated(v, tap, true)) < 0)
		fail(rc, err, errlen, "cannot isolate %s on private switch '%s': %s", tap, sw.name,
		     nlwhy(rc));
	if (rc < 0)
		vnl_link_delete(v, tap);
	vnl_close(v);
	return rc < 0 ? rc : warn;
}

bool vswitch_tap_is_guests(const char *alias, const char *guest, int nic)
{
	char mine[256];
	int n = snprintf(mine, sizeof(mine), VSWITCH_TAP_ALIAS_PREFIX "%s/%d/", guest, nic);
	return n > 0 && (size_t)n < sizeof(mine) && !strncmp(alias, mine, (size_t)n);
}

int vswitch_tap_destroy(const char *tap, const char *guest, int nic)
{
	struct vnl *v;
	char e[256];
	int rc = open_nl(&v, e, sizeof(e));
	if (rc < 0)
		return rc;
	struct vnl_link l;
	rc = vnl_link_get(v, tap, &l);
	if (rc == 0 && strcmp(l.kind, "tun") != 0)
		rc = -EINVAL; /* not a tap: never delete someone's real interface */
	else if (rc == 0 && !vswitch_tap_is_guests(l.alias, guest, nic))
		rc = -EPERM; /* another program's or guest's tap */
	if (rc == 0)
		rc = vnl_link_delete(v, tap);
	vnl_close(v);
	return rc;
}

int vswitch_device_attach(const struct vm_settings *s, const char *swname, const char *dev,
			  bool *attached, char *err, size_t errlen)
{
	*attached = false;
	struct vnl *v;
	int rc = open_nl(&v, err, errlen);
	if (rc < 0)
		return rc;
	struct vswitch sw;
	struct vnl_link l, b;
	char e[512];
	if (vnl_link_get(v, dev, &l) < 0) {
		rc = fail(-ENODEV, err, errlen, "no such interface %s", dev);
	} else if (!strcmp(l.kind, "bridge")) {
		rc = fail(-EINVAL, err, errlen, "%s is a bridge, not a device for a guest", dev);
	} else if (vswitch_load(s, swname, &sw, e, sizeof(e)) < 0 ||
		   switch_bring_up(v, &sw, e, sizeof(e)) < 0 ||
		   vnl_link_get(v, sw.bridge, &b) < 0) {
		/* as for a tap: the guest starts, unconnected */
		rc = fail(1, err, errlen, "%s; %s is not on a bridge", e, dev);
	} else if (l.master == b.ifindex) {
		rc = 0; /* already a port: whoever put it there keeps it there */
	} else if (l.master) {
		char other[16] = "?";
		vnl_link_name(v, l.master, other);
		rc = fail(-EBUSY, err, errlen, "%s is a port of bridge %s, not of switch '%s' (%s)",
			  dev, other, sw.name, sw.bridge);
	} else if ((rc = vnl_link_set_master(v, dev, sw.bridge)) < 0) {
		fail(rc, err, errlen, "cannot add %s to bridge %s: %s", dev, sw.bridge, nlwhy(rc));
	} else if (sw.isolated && (rc = vnl_port_set_isolated(v, dev, true)) < 0) {
		fail(rc, err, errlen, "cannot isolate %s on private switch '%s': %s", dev, sw.name,
		     nlwhy(rc));
		vnl_link_set_master(v, dev, NULL);
	} else {
		*attached = true;
	}
	vnl_close(v);
	return rc;
}

void vswitch_device_detach(const struct vm_settings *s, const char *swname, const char *dev)
{
	struct vnl *v;
	struct vswitch sw;
	struct vnl_link l, b;
	char e[512];
	if (vswitch_load(s, swname, &sw, e, sizeof(e)) < 0 || open_nl(&v, e, sizeof(e)) < 0)
		return;
	/* only out of the bridge we put it in */
	if (vnl_link_get(v, dev, &l) == 0 && vnl_link_get(v, sw.bridge, &b) == 0 &&
	    l.master == b.ifindex)
		vnl_link_set_master(v, dev, NULL);
	vnl_close(v);
}
