/* SPDX-License-Identifier: BSD-2-Clause */
/* A thin wrapper over libnl-route-3 for what the switches need: links by name, bridges, ports,
 * vlan links, taps, IPv4 addresses, counters. Every call returns 0 (or a count / index) on success
 * and -errno on failure; libnl's own error codes are translated to errno values. */
#ifndef VM_NETLINK_H
#define VM_NETLINK_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

struct vnl; /* an open rtnetlink socket */

int vnl_open(struct vnl **out, char *err, size_t errlen);
void vnl_close(struct vnl *v);

/* What the kernel says about one link. */
struct vnl_link {
	char name[16];
	int ifindex;
	int master; /* ifindex of the bridge it is a port of, 0 when none */
	unsigned mtu;
	bool up;	 /* administratively up (IFF_UP) */
	bool running;	 /* carrier (IFF_RUNNING) */
	char kind[16];	 /* "bridge", "vlan", "tun", "veth", ... or "" */
	int vlan_id;	 /* for kind "vlan" */
	int parent;	 /* for kind "vlan": ifindex of the link it is on */
	char alias[256]; /* IFLA_IFALIAS (at most 255 bytes), "" when unset */
	uint64_t rx_bytes, tx_bytes;
};

/* 0 with *out filled, -ENODEV when there is no such link. */
int vnl_link_get(struct vnl *v, const char *name, struct vnl_link *out);
bool vnl_link_exists(struct vnl *v, const char *name);
/* The ports of bridge `bridge_ifindex` (malloc'd array, in ifindex order): count or -errno. */
int vnl_bridge_ports(struct vnl *v, int bridge_ifindex, struct vnl_link **out);
/* The name of link ifindex into out[16]: 0 or -ENODEV. */
int vnl_link_name(struct vnl *v, int ifindex, char out[16]);

int vnl_bridge_create(struct vnl *v, const char *name);
/* Create vlan link `name` tagging `vid` on `parent`. */
int vnl_vlan_create(struct vnl *v, const char *parent, const char *name, int vid);
/* Create persistent tap `name` (not attached to any process; bhyve opens it later). */
int vnl_tap_create(const char *name);
/* Let uid/gid attach to existing tap `name` (TUNSETOWNER/TUNSETGROUP), and nobody else without
 * CAP_NET_ADMIN (a tap with no owner is anybody's). 0 or -errno: -ENODEV when there is no such
 * tap, -EBADFD when `name` is not a tap of vnl_tap_create's kind. */
int vnl_tap_set_owner(const char *name, uid_t uid, gid_t gid);
int vnl_link_delete(struct vnl *v, const char *name);

int vnl_link_set_up(struct vnl *v, const char *name, bool up);
int vnl_link_set_mtu(struct vnl *v, const char *name, unsigned mtu);
int vnl_link_set_alias(struct vnl *v, const char *name, const char *alias);
/* Make `port` a port of `bridge`; bridge NULL takes it out of whatever bridge it is in. */
int vnl_link_set_master(struct vnl *v, const char *port, const char *bridge);
/* Bridge port isolation (IFLA_BRPORT_ISOLATED): isolated ports only talk to non-isolated ones. */
int vnl_port_set_isolated(struct vnl *v, const char *port, bool on);
/* 1 isolated, 0 not, -errno (-ENOENT when the link is not a bridge port). */
int vnl_port_isolated(struct vnl *v, const char *port);

/* Add "a.b.c.d/len" to link `name` (with its broadcast address). */
int vnl_addr4_add(struct vnl *v, const char *name, const char *cidr);
/* Remove every IPv4 address of link `name`; returns how many were removed, or -errno. */
int vnl_addr4_flush(struct vnl *v, const char *name);
/* The IPv4 addresses of link `name` as "a.b.c.d/len", space separated, into out. Count or -errno.
 */
int vnl_addr4_list(struct vnl *v, const char *name, char *out, size_t outlen);
/* The addresses of link `name` that the host uses to talk beyond the link: IPv4 ones and IPv6
 * ones wider than link scope, as "addr/len", space separated. 1 when there is one, 0 when none,
 * or -errno. */
int vnl_addr_list_host(struct vnl *v, const char *name, char *out, size_t outlen);

#endif
