/* SPDX-License-Identifier: BSD-2-Clause */
/* vm create -i and -C (see provision.h). */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/download.h"
#include "vm/provision.h"
#include "vm/runprog.h"

#define MAX_DEVS 64
#define KEYFILE_MAX (1 << 20)

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "vm create: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

static char *read_small(const char *path, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	char *buf = malloc(KEYFILE_MAX + 1);
	size_t got = 0;
	ssize_t n = 0;
	while (buf && got < KEYFILE_MAX && (n = read(fd, buf + got, KEYFILE_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (!buf || n < 0 || got == KEYFILE_MAX || memchr(buf, '\0', got)) {
		*err = !buf ? ENOMEM : n < 0 ? errno : EFBIG;
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	return buf;
}

int provision_check(const struct vm_settings *s, const char *const o[128], const struct vmconf *c,
		    const char *name, int disk0, struct provision *pv)
{
	memset(pv, 0, sizeof(*pv));
	if ((o['k'] || o['n'] || o['u']) && !o['C'])
		return bad("-k, -n and -u are cloud-init's: add -C");
	if (o['i']) {
		if (disk0 != 0)
			return bad("-i %s: the template has no disk0 file to write the image to", o['i']);
		int l = strchr(o['i'], '/') ? snprintf(pv->image, sizeof(pv->image), "%s", o['i'])
					    : snprintf(pv->image, sizeof(pv->image), "%.3000s/.img/%.900s", s->vm_dir, o['i']);
		if (l < 0 || (size_t)l >= sizeof(pv->image))
			return bad("-i %s: path too long", o['i']);
		struct stat st;
		if (stat(pv->image, &st) < 0 || !S_ISREG(st.st_mode) || access(pv->image, R_OK) < 0)
			return bad("-i: %s is not an image file here (vm img lists $vm_dir/.img)", pv->image);
		pv->format = dl_image_format(pv->image);
		if (!pv->format)
			return bad("-i: %s is packed (xz or gzip): vm img URL unpacks what it downloads, or unpack it yourself",
				   pv->image);
	}
	if (!o['C'])
		return 0;
	pv->cloud_init = true;
	if (o['u']) {
		if (!ci_user_valid(o['u']))
			return bad("-u %s: not a user name cloud-init can create ([a-z_][a-z0-9_-]*, not root)", o['u']);
		pv->user = o['u'];
	}
	if (o['n']) {
		char err[512];
		if (ci_parse_net(o['n'], &pv->net, err, sizeof(err)) < 0)
			return bad("%s", err);
		if (!vmconf_getn(c, "network", 0, "_type"))
			return bad("-n: the template has no network0 to give the address to");
		pv->have_net = true;
	}
	if (o['k']) {
		int e = 0;
		char *text = read_small(o['k'], &e);
		if (!text)
			return bad("-k %s: %s", o['k'], e == EFBIG ? "not a key file (too big, or binary)" : strerror(e));
		char err[512];
		int r = ci_parse_keys(text, &pv->keys, &pv->nkeys, err, sizeof(err));
		free(text);
		if (r < 0)
			return bad("-k %s: %s", o['k'], err);
	}
	(void)name;
	return 0;
}

/* qemu-img convert of the image to raw at path (its progress on a terminal): a new file, or
 * into an existing device that reads as zeros (a new thin volume), whose zero parts the image
 * need not write. 0 or -errno + err. */
static int convert_to(const struct provision *pv, const char *path, bool into_zeroed_device, char *err,
		      size_t errlen)
{
	char why[512];
	bool tty = isatty(STDOUT_FILENO);
	char *argv[12] = { "qemu-img", "convert", "-f", (char *)pv->format, "-O", "raw", tty ? "-p" : "-q" };
	int n = 7;
	if (into_zeroed_device) {
		argv[n++] = "-n";
		argv[n++] = "--target-is-zero";
	}
	argv[n++] = (char *)pv->image;
	argv[n++] = (char *)path;
	argv[n] = NULL;
	int rc = runprog(argv, NULL, tty ? RUNPROG_STDOUT_INHERIT : RUNPROG_STDOUT_NULL, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "-i %s: cannot write it to disk0: %s", pv->image,
			 why[0] ? why : "qemu-img convert failed");
		return rc == 127 ? -ENOENT : -EIO;
	}
	return 0;
}

/* The image's size as a disk (qemu-img info's virtual-size): 0 or -errno + err. */
static int image_disk_size(const struct provision *pv, uint64_t *out, char *err, size_t errlen)
{
	FILE *f = tmpfile();
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot make a temporary file: %s", strerror(e));
		return -e;
	}
	char why[512], text[8192];
	char *argv[] = { "qemu-img", "info", "--output=json", "-f", (char *)pv->format, (char *)pv->image, NULL };
	int rc = runprog(argv, NULL, fileno(f), why, sizeof(why));
	size_t n = rc == 0 && fseek(f, 0, SEEK_SET) == 0 ? fread(text, 1, sizeof(text) - 1, f) : 0;
	fclose(f);
	text[n] = '\0';
	const char *v = strstr(text, "\"virtual-size\":");
	char *end = NULL;
	if (v) {
		errno = 0;
		*out = strtoull(v + strlen("\"virtual-size\":"), &end, 10);
	}
	if (rc != 0 || !v || errno || end == v + strlen("\"virtual-size\":")) {
		snprintf(err, errlen, "-i %s: cannot tell its size: %s", pv->image,
			 rc != 0 && why[0] ? why : "qemu-img info names none");
		return rc == 127 ? -ENOENT : -EIO;
	}
	return 0;
}

/* disk0 is a thin volume (an LVM datastore; path links to it): the image is written into it, the
 * parts the image leaves zero not written (a new thin volume reads as zeros and stays thin). */
static int image_to_volume(const struct provision *pv, const char *path, char *err, size_t errlen)
{
	uint64_t need = 0, have = 0;
	int r = image_disk_size(pv, &need, err, errlen);
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &have) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	if (need > have) {
		snprintf(err, errlen, "-i %s: a %llu-byte disk does not fit disk0's %llu-byte volume (make disk0_size larger)",
			 pv->image, (unsigned long long)need, (unsigned long long)have);
		return -EFBIG;
	}
	return convert_to(pv, path, true, err, errlen);
}

int provision_image(const struct provision *pv, const char *path, uint64_t size, char *err,
		    size_t errlen)
{
	struct stat bst;
	if (stat(path, &bst) == 0 && S_ISBLK(bst.st_mode))
		return image_to_volume(pv, path, err, errlen);
	unlink(path); /* the empty sparse disk create made: the image takes its place */
	int rc = convert_to(pv, path, false, err, errlen);
	if (rc < 0) {
		unlink(path);
		return rc;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if ((uint64_t)st.st_size > size) {
		snprintf(err, errlen, "-i %s: the image is %lld bytes, disk0 only %llu: give a larger -s",
			 pv->image, (long long)st.st_size, (unsigned long long)size);
		return -EFBIG;
	}
	if (truncate(path, (off_t)size) < 0 || chmod(path, 0600) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot grow it to %llu bytes: %s", path, (unsigned long long)size, strerror(e));
		return -e;
	}
	return 0;
}

int provision_seed(const struct provision *pv, struct vmconf *c, const char *name,
		   const char *uuid, const char *path, char *err, size_t errlen)
{
	/* the host name: -n hostname=, else the guest's name as a host name ('_' and '.' are not) */
	char host[64];
	if (pv->net.hostname[0]) {
		snprintf(host, sizeof(host), "%s", pv->net.hostname);
	} else {
		snprintf(host, sizeof(host), "%s", name);
		for (char *q = host; *q; q++)
			if (*q == '_' || *q == '.')
				*q = '-';
	}
	const char *mac = vmconf_getn(c, "network", 0, "_mac");
	char *meta = ci_meta_data(uuid, host);
	char *user = ci_user_data(pv->keys, pv->nkeys, pv->user);
	char *net = pv->have_net && mac ? ci_network_config(mac, &pv->net) : NULL;
	int rc = !meta || !user || (pv->have_net && !net) ? -ENOMEM : 0;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	else
		rc = ci_make_seed(path, meta, user, net, err, errlen);
	free(meta);
	free(user);
	free(net);
	if (rc < 0)
		return rc;
	int n = 0;
	while (n < MAX_DEVS && vmconf_getn(c, "disk", n, "_type"))
		n++;
	char k[32];
	int r = 0;
	snprintf(k, sizeof(k), "disk%d_type", n);
	r |= vmconf_set(c, k, "ahci-cd");
	snprintf(k, sizeof(k), "disk%d_name", n);
	r |= vmconf_set(c, k, "seed.iso");
	snprintf(k, sizeof(k), "disk%d_dev", n);
	r |= vmconf_set(c, k, "file");
	if (n == MAX_DEVS || r) {
		unlink(path);
		snprintf(err, errlen, "cannot add seed.iso to the configuration");
		return -ENOMEM;
	}
	return 0;
}

void provision_free(struct provision *pv)
{
	ci_free_keys(pv->keys, pv->nkeys);
	pv->keys = NULL;
	pv->nkeys = 0;
}
