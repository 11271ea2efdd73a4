/* SPDX-License-Identifier: BSD-2-Clause */
/* Names and identifiers: guest and switch name rules (vm-bhyve's), MACs, UUIDs, tap names. Pure. */
#ifndef VM_NAMES_H
#define VM_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* vm-bhyve's guest name rule, which it checks with egrep -i (so upper case is allowed):
 * ^[a-z0-9][.a-z0-9_-]{0,229}[a-z0-9]$ (so at least 2 characters). */
bool guest_name_valid(const char *name);
/* Switch and datastore names as vm-bhyve takes them: 1..SWITCH_NAME_MAX characters of
 * [A-Za-z0-9_.-], not starting with '.' or '-' (the name is part of system.conf keys such as
 * ports_<name> and path_<name>, which vmconf reads). */
#define SWITCH_NAME_MAX 31
bool switch_name_valid(const char *name);
bool datastore_name_valid(const char *name);
/* Linux interface names: 1..15 chars, no '/', ':' or whitespace, not "." or "..". */
bool ifname_valid(const char *name);

/* vm-bhyve's guest MAC: 58:9c:fc:0X:XX:XX (bhyve's OUI, locally chosen low bits) from a hash of
 * guest name, NIC index and a seed (time at creation). out gets "58:9c:fc:0x:xx:xx". */
void mac_generate(const char *guest, int nic, uint64_t seed, char out[18]);
/* aa:bb:cc:dd:ee:ff, unicast (bit 0 of the first octet clear). */
bool mac_valid(const char *mac);
/* A random version-4 UUID from getrandom (not pure: reads the kernel's RNG). */
int uuid_generate(char out[37]);
bool uuid_valid(const char *uuid);

/* The generated tap name for NIC n of guest: "vmt-<guest>-<n>" when that fits 15 characters, else
 * "vmt-<8 hex of a hash of guest>-<n % 100>". Predictable: the same every start. (networkN_name,
 * when set, replaces it: the caller checks the config first; bhyvecmd_build does.) */
void tap_name(const char *guest, int nic, char out[16]);
/* The bridge for switch name: "vm-<name>" when that fits a Linux interface name (15 bytes: names
 * of up to 12 characters, which is every name older kbhyve accepted), else
 * "vm-<first 4 characters>~<7 hex of a hash of the name>". '~' is never part of a switch name, so
 * a hashed bridge name cannot be the plain name of another switch. */
void bridge_name(const char *sw, char out[16]);

#endif
