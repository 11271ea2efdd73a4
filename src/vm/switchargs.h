/* SPDX-License-Identifier: BSD-2-Clause */
/* The arguments of `vm switch` checked as vm-bhyve checks them, and the space-separated word lists
 * of system.conf (switch_list, ports_<sw>). Pure: no I/O. Parsers return 0, or -EINVAL with a
 * one-line reason in err. */
#ifndef VM_SWITCHARGS_H
#define VM_SWITCHARGS_H

#include <stdbool.h>
#include <stddef.h>

enum switch_type { SWITCH_STANDARD, SWITCH_MANUAL };

/* "standard" or "manual"; vm-bhyve's vxlan/vale/netgraph get "not supported on Linux". */
int swarg_type(const char *s, enum switch_type *out, char *err, size_t errlen);
const char *swarg_type_name(enum switch_type t);
/* A vlan id: decimal 0..4094 (0 means none). */
int swarg_vlan(const char *s, int *out, char *err, size_t errlen);
/* An MTU: 3 or 4 digits (vm-bhyve's rule), 68..9000. */
int swarg_mtu(const char *s, unsigned *out, char *err, size_t errlen);
/* An IPv4 address with prefix length, a.b.c.d/len (len 1..32), written back normalised to out. */
int swarg_ipv4_cidr(const char *s, char out[19], char *err, size_t errlen);
/* "on" or "off". */
int swarg_onoff(const char *s, bool *out, char *err, size_t errlen);
/* The vlan link for uplink `port`: "<port>.<vlan>", -EINVAL when it would not fit 15 characters. */
int swarg_vlan_ifname(const char *port, int vlan, char out[16], char *err, size_t errlen);

/* Word lists ("a b c"). The next word of *p into buf (NULL at the end; longer words are cut). */
const char *words_next(const char **p, char *buf, size_t buflen);
bool words_has(const char *list, const char *word);
/* A new list (malloc'd) with word appended (unless present) / removed. NULL list means "". */
char *words_add(const char *list, const char *word);
char *words_remove(const char *list, const char *word);

#endif
