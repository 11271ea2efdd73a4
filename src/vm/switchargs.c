/* SPDX-License-Identifier: BSD-2-Clause */
/* Switch argument checks and word lists: see switchargs.h. */
#include "vm/switchargs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int swarg_type(const char *s, enum switch_type *out, char *err, size_t errlen)
{
	if (!strcmp(s, "standard") || !strcmp(s, "auto")) {
		*out = SWITCH_STANDARD;
		return 0;
	}
	if (!strcmp(s, "manual")) {
		*out = SWITCH_MANUAL;
		return 0;
	}
	if (!strcmp(s, "vxlan") || !strcmp(s, "vale") || !strcmp(s, "netgraph"))
		snprintf(err, errlen,
			 "switch type '%s' is not supported on Linux (use standard or manual)", s);
	else
		snprintf(err, errlen, "unknown switch type '%s' (standard or manual)", s);
	return -EINVAL;
}

const char *swarg_type_name(enum switch_type t)
{
	return t == SWITCH_MANUAL ? "manual" : "standard";
}

/* s is 1..maxdigits decimal digits: its value, else -1. */
static long digits(const char *s, size_t maxdigits)
{
	size_t n = strlen(s);
	if (n == 0 || n > maxdigits || strspn(s, "0123456789") != n)
		return -1;
	return strtol(s, NULL, 10);
}

int swarg_vlan(const char *s, int *out, char *err, size_t errlen)
{
	long v = digits(s, 4);
	if (v < 0 || v > 4094) {
		snprintf(err, errlen, "invalid vlan id '%s' (0 to 4094)", s);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

int swarg_mtu(const char *s, unsigned *out, char *err, size_t errlen)
{
	long v = digits(s, 4);
	if (v < 68 || v > 9000 || strlen(s) < 3) {
		snprintf(err, errlen, "invalid mtu '%s' (3 or 4 digits, 68 to 9000)", s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

int swarg_ipv4_cidr(const char *s, char out[19], char *err, size_t errlen)
{
	unsigned part[5];
	const char *p = s;
	for (int i = 0; i < 5; i++) {
		size_t n = strspn(p, "0123456789");
		/* at most 3 digits, no leading zeros ("010" reads as octal to some tools) */
		if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
			goto bad;
		part[i] = (unsigned)strtoul(p, NULL, 10);
		p += n;
		char want = i < 3 ? '.' : i == 3 ? '/' : '\0';
		if (*p != want)
			goto bad;
		if (want)
			p++;
	}
	for (int i = 0; i < 4; i++)
		if (part[i] > 255)
			goto bad;
	if (part[4] < 1 || part[4] > 32)
		goto bad;
	snprintf(out, 19, "%u.%u.%u.%u/%u", part[0], part[1], part[2], part[3], part[4]);
	return 0;
bad:
	snprintf(err, errlen,
		 "invalid address '%s' (an IPv4 address with prefix length, a.b.c.d/len)", s);
	return -EINVAL;
}

int swarg_onoff(const char *s, bool *out, char *err, size_t errlen)
{
	if (!strcmp(s, "on") || !strcmp(s, "off")) {
		*out = s[1] == 'n';
		return 0;
	}
	snprintf(err, errlen, "expected on or off, not '%s'", s);
	return -EINVAL;
}

int swarg_vlan_ifname(const char *port, int vlan, char out[16], char *err, size_t errlen)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s.%d", port, vlan);
	if (n < 0 || n > 15) {
		snprintf(err, errlen, "vlan interface name '%.40s' is longer than 15 characters",
			 buf);
		return -EINVAL;
	}
	memcpy(out, buf, (size_t)n + 1);
	return 0;
}

const char *words_next(const char **p, char *buf, size_t buflen)
{
	const char *s = *p;
	if (!s)
		return NULL;
	s += strspn(s, " \t");
	size_t n = strcspn(s, " \t");
	if (n == 0) {
		*p = s;
		return NULL;
	}
	size_t k = n < buflen ? n : buflen - 1;
	memcpy(buf, s, k);
	buf[k] = 0;
	*p = s + n;
	return buf;
}

bool words_has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;
	char buf[256];
	while (words_next(&p, buf, sizeof(buf)))
		if (strlen(buf) == wl && !strcmp(buf, word))
			return true;
	return false;
}

char *words_add(const char *list, const char *word)
{
	if (!list)
		list = "";
	if (words_has(list, word))
		return strdup(list);
	size_t ll = strlen(list);
	while (ll && (list[ll - 1] == ' ' || list[ll - 1] == '\t'))
		ll--;
	char *out = malloc(ll + strlen(word) + 2);
	if (!out)
		return NULL;
	sprintf(out, "%.*s%s%s", (int)ll, list, ll ? " " : "", word);
	return out;
}

char *words_remove(const char *list, const char *word)
{
	if (!list)
		list = "";
	char *out = malloc(strlen(list) + 1);
	if (!out)
		return NULL;
	out[0] = 0;
	size_t used = 0;
	const char *p = list;
	char buf[256];
	while (words_next(&p, buf, sizeof(buf))) {
		if (!strcmp(buf, word))
			continue;
		used += sprintf(out + used, "%s%s", used ? " " : "", buf);
	}
	return out;
}
