/* SPDX-License-Identifier: BSD-2-Clause */
/* Downloads with libcurl, and vm img's decompression and conversion (see download.h). */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vm/download.h"
#include "vm/runprog.h"

int dl_file_name(const char *url, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8) &&
			    strncmp(url, "ftp://", 6))) {
		snprintf(err, errlen, "'%.300s' is not an http, https or ftp URL", url);
		return -EINVAL;
	}
	const char *path = strchr(scheme_end + 3, '/');
	size_t end = path ? strcspn(path, "?#") : 0;
	const char *last = NULL;
	for (size_t i = 0; path && i < end; i++)
		if (path[i] == '/')
			last = path + i + 1;
	size_t len = last ? (size_t)(path + end - last) : 0;
	if (!len) {
		snprintf(err, errlen, "'%.300s' does not end in a file name", url);
		return -EINVAL;
	}
	if (len >= outlen || len > 200) {
		snprintf(err, errlen, "'%.300s': the file name is too long", url);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)last[i];
		if (!isalnum(c) && !strchr("._+-", c)) {
			snprintf(err, errlen, "'%.*s' is not a file name vm keeps (letters, digits, '.', '_', '+', '-')",
				 (int)len, last);
			return -EINVAL;
		}
	}
	if (last[0] == '.' || last[0] == '-') {
		snprintf(err, errlen, "'%.*s' is not a file name vm keeps (it starts with '%c')", (int)len,
			 last, last[0]);
		return -EINVAL;
	}
	memcpy(out, last, len);
	out[len] = '\0';
	return 0;
}

bool dl_sha256_parse(const char *s, char out[65])
{
	if (!strncasecmp(s, "sha256:", 7))
		s += 7;
	if (strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = '\0';
	return true;
}

static int sha256_file(const char *path, char out[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct sha256_ctx c;
	sha256_init(&c);
	static unsigned char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		sha256_update(&c, (size_t)n, buf);
	int e = n < 0 ? -errno : 0;
	close(fd);
	if (e)
		return e;
	unsigned char d[SHA256_DIGEST_SIZE];
	sha256_digest(&c, sizeof(d), d);
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	return 0;
}

/* ---- the transfer ---- */

struct xfer {
	int fd;
	CURL *curl;
	curl_off_t resumed; /* bytes the .part had when we asked for the rest */
	bool checked;	    /* the reply's status looked at (first write) */
	bool restarted;	    /* the server sent the whole file instead of the rest */
	int write_errno;
	const char *name;
	struct timespec start, last_draw;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (!x->checked) {
		x->checked = true;
		long code = 0;
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
		/* a resume answered with 200: the server ignores ranges and sends it all again */
		if (x->resumed > 0 && code == 200) {
			if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
				x->write_errno = errno;
				return 0;
			}
			x->restarted = true;
		}
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(x->fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->write_errno = errno;
			return 0; /* curl stops with CURLE_WRITE_ERROR */
		}
		off += (size_t)w;
	}
	return len;
}

static void human(double b, char *out, size_t len)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(out, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static double since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* The progress bar: "name  [#####     ]  45%  12.3 MiB of 27.0 MiB  3.2 MiB/s", at most 5 times
 * a second, on one line of stderr. */
static int on_progress(void *arg, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = arg;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	bool done = total > 0 && now == total;
	if (!done && since(&x->last_draw, &t) < 0.2)
		return 0;
	x->last_draw = t;
	curl_off_t base = x->restarted ? 0 : x->resumed;
	double have = (double)(now + base), all = total > 0 ? (double)(total + base) : 0;
	char h[32], a[32], r[32];
	human(have, h, sizeof(h));
	double secs = since(&x->start, &t);
	human(secs > 0 ? (double)now / secs : 0, r, sizeof(r));
	if (all > 0) {
		int pct = (int)(have * 100 / all), bar = pct / 5;
		human(all, a, sizeof(a));
		fprintf(stderr, "\r%.40s  [%.*s%*s] %3d%%  %s of %s  %s/s  ", x->name, bar,
			"####################", 20 - bar, "", pct, h, a, r);
	} else {
		fprintf(stderr, "\r%.40s  %s  %s/s  ", x->name, h, r);
	}
	return 0;
}

static int fetch_once(const struct dl_request *r, const char *name, const char *part, char *err,
		      size_t errlen)
{
	struct xfer x = { .fd = -1, .name = name };
	x.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (x.fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot write %s: %s", part, strerror(e));
		return -e;
	}
	struct stat st;
	fstat(x.fd, &st);
	x.resumed = st.st_size;
	x.curl = curl_easy_init();
	if (!x.curl) {
		close(x.fd);
		snprintf(err, errlen, "cannot start libcurl");
		return -ENOMEM;
	}
	char cerr[CURL_ERROR_SIZE] = "";
	CURL *c = x.curl;
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https,ftp");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https,ftp");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a transfer that stalls (under 1 byte/s for a minute) is cut, to be resumed */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kbhyve-vm/0.1");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (x.resumed > 0)
		curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, x.resumed);
	if (r->progress) {
		clock_gettime(CLOCK_MONOTONIC, &x.start);
		x.last_draw = (struct timespec){ 0, 0 };
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
	}
	CURLcode rc = curl_easy_perform(c);
	long code = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_off_t got = 0;
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
	if (r->progress)
		fputc('\n', stderr);
	int ret = 0;
	if (rc == CURLE_OK && fsync(x.fd) < 0)
		x.write_errno = errno;
	if (rc == CURLE_OK && !x.write_errno) {
		ret = 0;
	} else if (x.write_errno) {
		snprintf(err, errlen, "cannot write %s: %s", part, strerror(x.write_errno));
		ret = -x.write_errno;
	} else if ((rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && x.resumed > 0) ||
		   (rc == CURLE_RANGE_ERROR && x.resumed > 0)) {
		ret = -ERANGE; /* cannot continue that .part: the caller starts again from nothing */
	} else if (rc == CURLE_HTTP_RETURNED_ERROR) {
		snprintf(err, errlen, "%.300s: the server answered %ld%s", r->url, code,
			 code == 404 ? " (not found)" : "");
		ret = -ENOENT;
	} else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
		   rc == CURLE_GOT_NOTHING) {
		struct stat now;
		fstat(x.fd, &now);
		snprintf(err, errlen, "%.300s: the transfer was cut after %lld bytes (%s): the same command again resumes it",
			 r->url, (long long)now.st_size, cerr[0] ? cerr : curl_easy_strerror(rc));
		ret = -EPIPE;
	} else {
		snprintf(err, errlen, "%.300s: %s", r->url, cerr[0] ? cerr : curl_easy_strerror(rc));
		ret = -EIO;
	}
	curl_easy_cleanup(c);
	close(x.fd);
	return ret;
}

int dl_fetch(const struct dl_request *r, char *path, size_t pathlen, char *err, size_t errlen)
{
	char name[256];
	int rc = dl_file_name(r->url, name, sizeof(name), err, errlen);
	if (rc < 0)
		return rc;
	char part[PATH_MAX];
	if (snprintf(path, pathlen, "%s/%s", r->dir, name) >= (int)pathlen ||
	    snprintf(part, sizeof(part), "%s/.%s.part", r->dir, name) >= (int)sizeof(part)) {
		snprintf(err, errlen, "%s: path too long", r->dir);
		return -ENAMETOOLONG;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s is there already (remove it to download it again)", path);
		return -EEXIST;
	}
	if (mkdir(r->dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errlen, "cannot create %s: %s", r->dir, strerror(e));
		return -e;
	}
	static bool inited;
	if (!inited && curl_global_init(CURL_GLOBAL_DEFAULT) == 0)
		inited = true;
	rc = fetch_once(r, name, part, err, errlen);
	if (rc == -ERANGE) { /* a .part the server will not continue: from the start */
		unlink(part);
		rc = fetch_once(r, name, part, err, errlen);
	}
	struct stat ps;
	/* nothing worth keeping from a refused URL, or from one that sent nothing */
	if (rc == -ENOENT || (rc < 0 && lstat(part, &ps) == 0 && ps.st_size == 0))
		unlink(part);
	if (rc < 0)
		return rc;
	if (r->sha256) {
		char got[65];
		int e = sha256_file(part, got);
		if (e < 0) {
			snprintf(err, errlen, "cannot read %s: %s", part, strerror(-e));
			return e;
		}
		if (strcmp(got, r->sha256)) {
			unlink(part);
			snprintf(err, errlen, "%s: SHA-256 %s, not the %s given: removed", name, got, r->sha256);
			return -EBADMSG;
		}
	}
	if (renameat2(AT_FDCWD, part, AT_FDCWD, path, RENAME_NOREPLACE) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", part, path, strerror(e));
		return -e;
	}
	return 0;
}

/* ---- vm img: unpack and convert ---- */

enum img_kind { IMG_RAW, IMG_XZ, IMG_GZ, IMG_QCOW2, IMG_VMDK, IMG_VHD, IMG_VHDX };

static enum img_kind sniff(const char *path)
{
	unsigned char h[512] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return IMG_RAW;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	enum img_kind k = IMG_RAW;
	if (n >= 6 && !memcmp(h, "\xfd" "7zXZ\0", 6))
		k = IMG_XZ;
	else if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		k = IMG_GZ;
	else if (n >= 4 && !memcmp(h, "QFI\xfb", 4))
		k = IMG_QCOW2;
	else if (n >= 4 && (!memcmp(h, "KDMV", 4) || !memcmp(h, "# Disk DescriptorFile", n >= 21 ? 21 : 4)))
		k = IMG_VMDK;
	else if (n >= 8 && !memcmp(h, "vhdxfile", 8))
		k = IMG_VHDX;
	else if (n >= 8 && !memcmp(h, "conectix", 8))
		k = IMG_VHD;
	else {
		/* a fixed VHD has its footer only at the end */
		struct stat st;
		char foot[8];
		if (fstat(fd, &st) == 0 && st.st_size >= 512 && pread(fd, foot, 8, st.st_size - 512) == 8 &&
		    !memcmp(foot, "conectix", 8))
			k = IMG_VHD;
	}
	close(fd);
	return k;
}

static const char *const qemu_fmt[] = { [IMG_QCOW2] = "qcow2", [IMG_VMDK] = "vmdk", [IMG_VHD] = "vpc",
					[IMG_VHDX] = "vhdx" };

/* path minus its last extension when it is one of exts (NULL-terminated), plus add. */
static void renamed(const char *path, const char *const *exts, const char *add, char *out, size_t len)
{
	size_t l = strlen(path);
	for (int i = 0; exts[i]; i++) {
		size_t e = strlen(exts[i]);
		if (l > e && !strcasecmp(path + l - e, exts[i]) && path[l - e - 1] != '/') {
			l -= e;
			break;
		}
	}
	snprintf(out, len, "%.*s%s", (int)l, path, add);
}

/* A hidden work file beside final: <dir>/.<name>.part */
static void work_name(const char *final, char *out, size_t len)
{
	const char *slash = strrchr(final, '/');
	snprintf(out, len, "%.*s/.%s.part", (int)(slash - final), final, slash + 1);
}

/* out must not exist yet: vm img never replaces an image */
static int taken(const char *out, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(out, &st) < 0)
		return 0;
	snprintf(err, errlen, "%s is there already", out);
	return -EEXIST;
}

/* The finished work file gets its name (or goes). */
static int publish(const char *work, const char *out, char *err, size_t errlen)
{
	if (renameat2(AT_FDCWD, work, AT_FDCWD, out, RENAME_NOREPLACE) == 0)
		return 0;
	int e = errno;
	unlink(work);
	snprintf(err, errlen, "cannot rename %s to %s: %s", work, out, strerror(e));
	return -e;
}

static int unpack(const char *in, enum img_kind k, char *out, size_t outlen, char *err, size_t errlen)
{
	static const char *const xz[] = { ".xz", NULL }, *const gz[] = { ".gz", NULL };
	renamed(in, k == IMG_XZ ? xz : gz, "", out, outlen);
	if (!strcmp(out, in))
		snprintf(out + strlen(out), outlen - strlen(out), ".unpacked");
	int t = taken(out, err, errlen);
	if (t < 0)
		return t;
	char work[PATH_MAX + 16], why[512];
	work_name(out, work, sizeof(work));
	int fd = open(work, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot write %s: %s", work, strerror(e));
		return -e;
	}
	char *argv[] = { k == IMG_XZ ? "xz" : "gzip", "-dc", (char *)in, NULL };
	int rc = runprog(argv, NULL, fd, why, sizeof(why));
	if (rc == 0 && fsync(fd) < 0)
		rc = 1;
	close(fd);
	if (rc != 0) {
		unlink(work);
		snprintf(err, errlen, "%s does not unpack (a corrupt image?): %s", in, why[0] ? why : "it failed");
		return -EBADMSG;
	}
	return publish(work, out, err, errlen);
}

static int convert(const char *in, enum img_kind k, bool progress, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	static const char *const exts[] = { ".qcow2", ".qcow", ".img", ".vmdk", ".vhd", ".vhdx", NULL };
	renamed(in, exts, ".raw", out, outlen);
	int t = taken(out, err, errlen);
	if (t < 0)
		return t;
	char work[PATH_MAX + 16], why[512];
	work_name(out, work, sizeof(work));
	unlink(work);
	char *argv[] = { "qemu-img", "convert", "-f", (char *)qemu_fmt[k], "-O", "raw", progress ? "-p" : "-q",
			 (char *)in, work, NULL };
	int rc = runprog(argv, NULL, progress ? RUNPROG_STDOUT_INHERIT : RUNPROG_STDOUT_NULL, why,
			 sizeof(why));
	if (rc != 0) {
		unlink(work);
		snprintf(err, errlen, "%s is not a usable %s image: %s", in, qemu_fmt[k],
			 why[0] ? why : "qemu-img convert failed");
		return rc == 127 ? -ENOENT : -EBADMSG;
	}
	return publish(work, out, err, errlen);
}

const char *dl_image_format(const char *path)
{
	enum img_kind k = sniff(path);
	return k == IMG_XZ || k == IMG_GZ ? NULL : k == IMG_RAW ? "raw" : qemu_fmt[k];
}

int dl_prepare_image(const char *path, bool progress, char *out, size_t outlen, char *err,
		     size_t errlen)
{
	char cur[PATH_MAX], next[PATH_MAX];
	snprintf(cur, sizeof(cur), "%s", path);
	/* at most: unpack once, convert once */
	for (int step = 0; step < 3; step++) {
		enum img_kind k = sniff(cur);
		int rc;
		if (k == IMG_RAW) {
			snprintf(out, outlen, "%s", cur);
			return 0;
		}
		if (step == 2 || ((k == IMG_XZ || k == IMG_GZ) && step > 0)) {
			snprintf(err, errlen, "%s: packed more than once, not an image vm takes", cur);
			unlink(cur);
			return -EBADMSG;
		}
		if (k == IMG_XZ || k == IMG_GZ)
			rc = unpack(cur, k, next, sizeof(next), err, errlen);
		else
			rc = convert(cur, k, progress, next, sizeof(next), err, errlen);
		/* the step's input goes either way: an intermediate, or a corrupt download */
		if (rc != -EEXIST)
			unlink(cur);
		if (rc < 0)
			return rc;
		snprintf(cur, sizeof(cur), "%s", next);
		if (k != IMG_XZ && k != IMG_GZ) {
			snprintf(out, outlen, "%s", cur);
			return 0;
		}
	}
	snprintf(out, outlen, "%s", cur);
	return 0;
}
