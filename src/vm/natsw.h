/* SPDX-License-Identifier: BSD-2-Clause */
/* NAT for a switch (vm switch nat NAME on): the switch's subnet masqueraded by an nftables table
 * of its own (kbhyve_nat_<name>_<hash>: nothing else on the host is touched) and DHCP/DNS from a
 * dnsmasq bound to the switch's bridge only, its pid and leases in $KBHYVE_RUNDIR/nat/. Both are
 * run as programs (nft, dnsmasq), never linked: libnftables is GPL. */
#ifndef VM_NATSW_H
#define VM_NATSW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The subnet of the switch address "a.b.c.d/len" and the DHCP range dnsmasq hands out: from
 * the 10th address (2nd in subnets of 32 or fewer) to the last before broadcast, the switch's own
 * address never in it. -EINVAL (message in err) for a prefix that leaves no room (/31, /32). */
struct nat_plan {
	uint32_t addr, net, mask; /* host byte order */
	int prefix;
	uint32_t first, last;	  /* the DHCP range */
};
int nat_plan(const char *cidr, struct nat_plan *p, char *err, size_t errlen);
void nat_ip_text(uint32_t a, char out[16]);

/* The nftables table of switch sw: "kbhyve_nat_" + the name with characters nft does not take
 * as '_' + 8 hex of a hash of the name (so a.b and a_b differ). */
void nat_table_name(const char *sw, char out[64]);
/* The nft script that replaces the table with the masquerade of the subnet leaving through any
 * interface but the bridge (malloc'd). */
char *nat_ruleset(const char *table, const char *bridge, const struct nat_plan *p);

/* Turn NAT on for switch sw over bridge with address cidr: net.ipv4.ip_forward on (a note on
 * stderr when this turns it on), the table loaded, dnsmasq started (a running one of this
 * switch is replaced). Nothing is left when any step fails. 0 or -errno with one line in err. */
int nat_start(const char *sw, const char *bridge, const char *cidr, char *err, size_t errlen);
/* Turn it off: dnsmasq stopped (waited for), the table deleted; 0 also when nothing was there.
 * -errno with err when something could not be removed. */
int nat_stop(const char *sw, char *err, size_t errlen);
/* For vm switch info: whether the table is loaded and the pid of the switch's dnsmasq (0). */
bool nat_table_loaded(const char *sw);
int nat_dnsmasq_pid(const char *sw);

#endif
