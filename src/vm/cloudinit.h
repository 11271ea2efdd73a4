/* SPDX-License-Identifier: BSD-2-Clause */
/* vm create -C: cloud-init's NoCloud seed as vm-bhyve makes it: seed.iso (ISO 9660 + Rock Ridge
 * + Joliet, volume label "cidata") holding meta-data (instance-id = the guest's uuid,
 * local-hostname), user-data (#cloud-config: resize_rootfs, manage_etc_hosts, the SSH keys of -k,
 * the user of -u) and, with -n, network-config (version 2, the first NIC matched by its MAC).
 * The texts are built here (pure); the ISO by xorriso's mkisofs, or genisoimage. */
#ifndef VM_CLOUDINIT_H
#define VM_CLOUDINIT_H

#include <stddef.h>

#define CI_MAX_NS 4
#define CI_MAX_KEYS 64

/* -n "ip=ADDR/LEN;gateway=GW;nameservers=A,B;hostname=NAME" (vm-bhyve's keys; any may be left
 * out but ip needs its prefix length). */
struct ci_net {
	char ip[19];	  /* "a.b.c.d/len" or "" */
	char gateway[16]; /* "" for none */
	char ns[CI_MAX_NS][16];
	int nns;
	char hostname[64]; /* "" for the guest's name */
};
int ci_parse_net(const char *s, struct ci_net *n, char *err, size_t errlen);

/* The public keys of an authorized_keys-style file's text: one per line, empty lines and
 * comments skipped. Each must be an OpenSSH public key (type, base64 of a blob that names the
 * same type, optional comment); a private key or anything else is refused naming its line.
 * *keys: malloc'd array of malloc'd lines. 0 or -EINVAL with err. */
int ci_parse_keys(const char *text, char ***keys, int *nkeys, char *err, size_t errlen);
void ci_free_keys(char **keys, int nkeys);
/* A user name cloud-init may create: [a-z_][a-z0-9_-]{0,31}, not root. */
int ci_user_valid(const char *user);

/* The seed's files (malloc'd). mac: the first NIC's, for network-config. */
char *ci_meta_data(const char *uuid, const char *hostname);
char *ci_user_data(char *const *keys, int nkeys, const char *user);
char *ci_network_config(const char *mac, const struct ci_net *n);

/* Write the seed ISO at path from those texts (network_config may be NULL): 0 or -errno with
 * one line in err; nothing left at path on failure. */
int ci_make_seed(const char *path, const char *meta, const char *user, const char *network,
		 char *err, size_t errlen);

#endif
