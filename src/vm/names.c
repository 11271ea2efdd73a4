/* SPDX-License-Identifier: BSD-2-Clause */
/* Names and identifiers for guests, switches, NICs. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "vm/names.h"

bool guest_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 2 || n > 231)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		bool inner = c == '.' || c == '_' || c == '-';
		if (!alnum && !(inner && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

bool switch_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > SWITCH_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

bool datastore_name_valid(const char *name)
{
	return switch_name_valid(name);
}

bool ifname_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > 15 || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		/* '%': the kernel makes "vm%d" into vm0, vm1, ... and the name is lost */
		if (c == '/' || c == ':' || c == '%' || isspace(c) || !isprint(c))
			return false;
	}
	return true;
}

/* FNV-1a, 64 bits: a stable hash for names (not for security). */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* splitmix64 finaliser: spreads the bits of the hash. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t name_hash(const char *s)
{
	return fnv1a(0xcbf29ce484222325ULL, s, strlen(s));
}

void mac_generate(const char *guest, int nic, uint64_t seed, char out[18])
{
	uint64_t h = name_hash(guest);
	h = fnv1a(h, &nic, sizeof(nic));
	h = mix64(fnv1a(h, &seed, sizeof(seed)));
	/* 20 low bits: 58:9c:fc:0X:XX:XX as vm-bhyve writes them */
	unsigned v = (unsigned)(h & 0xfffff);
	snprintf(out, 18, "58:9c:fc:%02x:%02x:%02x", (v >> 16) & 0x0f, (v >> 8) & 0xff, v & 0xff);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? mac[i] != ':' : hexval(mac[i]) < 0)
			return false;
	}
	return (hexval(mac[1]) & 1) == 0;
}

int uuid_generate(char out[37])
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
	return 0;
}

bool uuid_valid(const char *uuid)
{
	if (strlen(uuid) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? uuid[i] != '-' : hexval(uuid[i]) < 0)
			return false;
	}
	return true;
}

/* networkN_name is the caller's business (it needs the config); this is the generated name. */
void tap_name(const char *guest, int nic, char out[16])
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "vmt-%s-%d", guest, nic);
	if (n > 0 && n <= 15) {
		memcpy(out, buf, (size_t)n + 1);
		return;
	}
	unsigned h = (unsigned)(mix64(name_hash(guest)) & 0xffffffffu);
	snprintf(out, 16, "vmt-%08x-%u", h, (unsigned)nic % 100u);
}

void bridge_name(const char *sw, char out[16])
{
	if (strlen(sw) <= 12) {
		snprintf(out, 16, "vm-%s", sw);
		return;
	}
	unsigned h = (unsigned)(mix64(name_hash(sw)) & 0xfffffffu);
	snprintf(out, 16, "vm-%.4s~%07x", sw, h);
}
