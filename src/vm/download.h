/* SPDX-License-Identifier: BSD-2-Clause */
/* vm iso URL / vm img URL: downloads with libcurl into a folder, resumable, with a progress bar on
 * a terminal and an optional SHA-256 check; vm img's images are then decompressed (.xz, .gz) and
 * converted to raw sparse files (qemu-img) when they are qcow2, vmdk, vhd or vhdx. A download
 * grows in <folder>/.<name>.part and is renamed to <name> only when whole (and checked): a cut
 * transfer leaves the .part for the next run of the same command to resume; a bad checksum or a
 * corrupt image leaves nothing. */
#ifndef VM_DOWNLOAD_H
#define VM_DOWNLOAD_H

#include <stdbool.h>
#include <stddef.h>

/* The file name a URL downloads to: its path's last component (percent escapes kept out: a name
 * of [A-Za-z0-9._+-] only, not starting with '.'), or -EINVAL with the reason in err. */
int dl_file_name(const char *url, char *out, size_t outlen, char *err, size_t errlen);
/* A SHA-256 given by the user: 64 hex digits, optionally "sha256:"-prefixed; lower-cased into
 * out[65]. */
bool dl_sha256_parse(const char *s, char out[65]);

struct dl_request {
	const char *url;
	const char *dir;    /* the folder it lands in (.iso or .img) */
	const char *sha256; /* 64 lower-case hex digits, or NULL */
	bool progress;	    /* draw a progress bar on stderr */
};
/* Fetch: 0 with the final path in path, or -errno with one line in err. */
int dl_fetch(const struct dl_request *r, char *path, size_t pathlen, char *err, size_t errlen);

/* qemu-img's name for the format of the image at path ("raw", "qcow2", "vmdk", "vpc", "vhdx"),
 * NULL when it is xz- or gzip-packed. */
const char *dl_image_format(const char *path);

/* vm img's after-steps on a downloaded file at path: decompress .xz/.gz, convert a qcow2, vmdk,
 * vhd or vhdx image to "<base>.raw" (sparse); the intermediate files go. 0 with the image's final
 * path in out, or -errno with one line in err (nothing of this image left). */
int dl_prepare_image(const char *path, bool progress, char *out, size_t outlen, char *err,
		     size_t errlen);

#endif
