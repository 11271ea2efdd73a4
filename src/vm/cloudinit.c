/* SPDX-License-Identifier: BSD-2-Clause */
/* cloud-init's NoCloud seed (see cloudinit.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <nettle/base64.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/cloudinit.h"
#include "vm/runprog.h"

static bool ipv4_ok(const char *s, size_t len)
{
	char b[16];
	struct in_addr a;
	if (len == 0 || len >= sizeof(b))
		return false;
	memcpy(b, s, len);
	b[len] = '\0';
	return inet_pton(AF_INET, b, &a) == 1;
}

static bool hostname_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

int ci_parse_net(const char *s, struct ci_net *n, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	const char *p = s;
	bool any = false;
	while (*p) {
		size_t len = strcspn(p, ";");
		const char *eq = memchr(p, '=', len);
		if (len == 0) {
			p++;
			continue;
		}
		if (!eq) {
			snprintf(err, errlen, "-n: '%.*s' is not KEY=VALUE (ip, gateway, nameservers, hostname)", (int)len, p);
			return -EINVAL;
		}
		size_t kl = (size_t)(eq - p), vl = len - kl - 1;
		const char *v = eq + 1;
		any = true;
		if (kl == 2 && !strncmp(p, "ip", 2)) {
			const char *slash = memchr(v, '/', vl);
			char *end;
			long pl = slash ? strtol(slash + 1, &end, 10) : -1;
			if (!slash || !ipv4_ok(v, (size_t)(slash - v)) || end != v + vl || slash + 1 == end || pl < 1 || pl > 32) {
				snprintf(err, errlen, "-n: ip=%.*s is not an IPv4 address with its prefix length (ip=10.0.0.2/24)", (int)vl, v);
				return -EINVAL;
			}
			snprintf(n->ip, sizeof(n->ip), "%.*s", (int)vl, v);
		} else if (kl == 7 && !strncmp(p, "gateway", 7)) {
			if (!ipv4_ok(v, vl)) {
				snprintf(err, errlen, "-n: gateway=%.*s is not an IPv4 address", (int)vl, v);
				return -EINVAL;
			}
			snprintf(n->gateway, sizeof(n->gateway), "%.*s", (int)vl, v);
		} else if (kl == 11 && !strncmp(p, "nameservers", 11)) {
			const char *q = v, *end = v + vl;
			while (q < end) {
				const char *c = memchr(q, ',', (size_t)(end - q));
				size_t l = c ? (size_t)(c - q) : (size_t)(end - q);
				if (n->nns == CI_MAX_NS || !ipv4_ok(q, l)) {
					snprintf(err, errlen, n->nns == CI_MAX_NS ? "-n: at most %d nameservers" : "-n: nameserver '%.*s' is not an IPv4 address",
						 n->nns == CI_MAX_NS ? CI_MAX_NS : (int)l, q);
					return -EINVAL;
				}
				snprintf(n->ns[n->nns++], sizeof(n->ns[0]), "%.*s", (int)l, q);
				q += l + (c ? 1 : 0);
			}
		} else if (kl == 8 && !strncmp(p, "hostname", 8)) {
			if (!hostname_ok(v, vl)) {
				snprintf(err, errlen, "-n: hostname=%.*s is not a host name (letters, digits, '-')", (int)vl, v);
				return -EINVAL;
			}
			snprintf(n->hostname, sizeof(n->hostname), "%.*s", (int)vl, v);
		} else {
			snprintf(err, errlen, "-n: unknown key '%.*s' (ip, gateway, nameservers, hostname)", (int)kl, p);
			return -EINVAL;
		}
		p += len;
		if (*p == ';')
			p++;
	}
	if (!any) {
		snprintf(err, errlen, "-n: empty (ip=ADDR/LEN;gateway=GW;nameservers=A,B;hostname=NAME)");
		return -EINVAL;
	}
	if (n->gateway[0] && !n->ip[0]) {
		snprintf(err, errlen, "-n: a gateway needs the guest's ip=ADDR/LEN");
		return -EINVAL;
	}
	return 0;
}

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", NULL
};

/* One line: TYPE BASE64 [comment], the blob naming TYPE. */
static bool key_ok(const char *line)
{
	size_t tl = strcspn(line, " \t");
	bool known = false;
	for (int i = 0; key_types[i]; i++)
		known |= strlen(key_types[i]) == tl && !strncmp(line, key_types[i], tl);
	if (!known || !line[tl])
		return false;
	const char *b = line + tl + strspn(line + tl, " \t");
	size_t bl = strcspn(b, " \t");
	if (bl < 16 || bl > 16384)
		return false;
	uint8_t *blob = malloc(BASE64_DECODE_LENGTH(bl));
	if (!blob)
		return false;
	struct base64_decode_ctx c;
	size_t out = BASE64_DECODE_LENGTH(bl);
	base64_decode_init(&c);
	bool ok = base64_decode_update(&c, &out, blob, bl, b) && base64_decode_final(&c) && out >= 4 + tl;
	if (ok) {
		uint32_t n = (uint32_t)blob[0] << 24 | (uint32_t)blob[1] << 16 | (uint32_t)blob[2] << 8 | blob[3];
		ok = n == tl && !memcmp(blob + 4, line, tl);
	}
	free(blob);
	/* a comment must not carry what YAML or the seed could take for more */
	for (const char *q = b + bl; ok && *q; q++)
		ok = (unsigned char)*q >= 0x20 && *q != 0x7f;
	return ok;
}

void ci_free_keys(char **keys, int nkeys)
{
	for (int i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
}

int ci_parse_keys(const char *text, char ***keys, int *nkeys, char *err, size_t errlen)
{
	*keys = NULL;
	*nkeys = 0;
	char **v = calloc(CI_MAX_KEYS, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int n = 0, lineno = 0;
	const char *p = text;
	while (*p) {
		size_t len = strcspn(p, "\n");
		lineno++;
		char *line = strndup(p, len);
		p += len + (p[len] == '\n');
		if (!line) {
			ci_free_keys(v, n);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		size_t l = strlen(line);
		while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		const char *s = line + strspn(line, " \t");
		if (!*s || *s == '#') {
			free(line);
			continue;
		}
		const char *why = NULL;
		if (strstr(s, "PRIVATE KEY"))
			why = "is a private key: give the public one (.pub)";
		else if (!key_ok(s))
			why = "is not an SSH public key (ssh-ed25519 AAAA... comment)";
		else if (n == CI_MAX_KEYS)
			why = "is one key too many";
		if (why) {
			snprintf(err, errlen, "line %d %s", lineno, why);
			free(line);
			ci_free_keys(v, n);
			return -EINVAL;
		}
		memmove(line, s, strlen(s) + 1);
		v[n++] = line;
	}
	if (!n) {
		free(v);
		snprintf(err, errlen, "holds no SSH public key");
		return -EINVAL;
	}
	*keys = v;
	*nkeys = n;
	return 0;
}

int ci_user_valid(const char *user)
{
	size_t l = strlen(user);
	if (!l || l > 32 || !strcmp(user, "root") || !(islower((unsigned char)user[0]) || user[0] == '_'))
		return 0;
	return strspn(user, "abcdefghijklmnopqrstuvwxyz0123456789_-") == l;
}

/* YAML double-quoted: the key lines only hold printable characters (key_ok). */
static void put_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

char *ci_meta_data(const char *uuid, const char *hostname)
{
	char *s = NULL;
	return asprintf(&s, "instance-id: %s\nlocal-hostname: %s\n", uuid, hostname) < 0 ? NULL : s;
}

char *ci_user_data(char *const *keys, int nkeys, const char *user)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	fputs("#cloud-config\nresize_rootfs: True\nmanage_etc_hosts: localhost\n", f);
	const char *indent = "  ";
	if (user && *user) {
		fprintf(f, "users:\n  - default\n  - name: %s\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
			   "    shell: /bin/bash\n    lock_passwd: true\n",
			user);
		if (nkeys)
			fputs("    ssh_authorized_keys:\n", f);
		indent = "      ";
	} else if (nkeys) {
		fputs("ssh_authorized_keys:\n", f);
	}
	for (int i = 0; i < nkeys; i++) {
		fprintf(f, "%s- ", indent);
		put_quoted(f, keys[i]);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

char *ci_network_config(const char *mac, const struct ci_net *n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	fprintf(f, "version: 2\nethernets:\n  id0:\n    set-name: eth0\n    match:\n      macaddress: \"%s\"\n", mac);
	if (n->ip[0])
		fprintf(f, "    addresses:\n      - %s\n", n->ip);
	else
		fputs("    dhcp4: true\n", f);
	if (n->gateway[0])
		fprintf(f, "    routes:\n      - to: 0.0.0.0/0\n        via: %s\n", n->gateway);
	if (n->nns) {
		fputs("    nameservers:\n      search: []\n      addresses: [", f);
		for (int i = 0; i < n->nns; i++)
			fprintf(f, "%s%s", i ? ", " : "", n->ns[i]);
		fputs("]\n", f);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "wx");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

int ci_make_seed(const char *path, const char *meta, const char *user, const char *network,
		 char *err, size_t errlen)
{
	char dir[] = "/tmp/kbhyve-seed.XXXXXX";
	if (!mkdtemp(dir)) {
		int e = errno;
		snprintf(err, errlen, "cannot make a folder for the seed: %s", strerror(e));
		return -e;
	}
	int rc = write_file(dir, "meta-data", meta);
	if (rc == 0)
		rc = write_file(dir, "user-data", user);
	if (rc == 0 && network)
		rc = write_file(dir, "network-config", network);
	char why[512] = "";
	if (rc == 0) {
		char *x[] = { "xorriso", "-as", "mkisofs", "-quiet", "-o", (char *)path, "-V", "cidata", "-J", "-R", dir, NULL };
		int st = runprog(x, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why));
		if (st == 127) {
			char *g[] = { "genisoimage", "-quiet", "-o", (char *)path, "-V", "cidata", "-J", "-r", dir, NULL };
			st = runprog(g, NULL, RUNPROG_STDOUT_NULL, why, sizeof(why));
			if (st == 127)
				snprintf(why, sizeof(why), "neither xorriso nor genisoimage is installed");
		}
		rc = st == 0 ? 0 : -EIO;
	}
	static const char *const files[] = { "meta-data", "user-data", "network-config" };
	for (int i = 0; i < 3; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
	if (rc < 0) {
		unlink(path);
		snprintf(err, errlen, "cannot make %s: %s", path, why[0] ? why : strerror(-rc));
	}
	return rc;
}
